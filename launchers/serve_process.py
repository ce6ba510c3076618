"""Starts ``tandem serve`` as a child process on an already running Triton: the tests and the
benchmarks run the control plane as a user does, one real process each."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from launchers.child_process import stop_process, tied_to_this_process, wait_until_healthy
from launchers.triton_server import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ServeProcess:
    """One ``tandem serve`` on a free loopback port, its data in ``data_dir``, no workers of its own
    (start them with :class:`~launchers.worker_processes.WorkerProcess` and :attr:`environment`).

    Its job queue is its own (``TANDEM_QUEUE_NAME`` unless given): on the shared Redis, the workers of
    another stack (a second benchmark, a test run, ``make run``) would take its jobs and not find them
    in their database, leaving them pending."""

    def __init__(
        self, data_dir: Path, triton_grpc_url: str, *, start_timeout_s: float = 60.0, **environment: str
    ) -> None:
        """Waits until ``/health/live`` answers; raises ``RuntimeError`` with the log tail otherwise."""
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.data_dir = data_dir
        self.http_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.environment: dict[str, str] = dict(os.environ)
        """The ``TANDEM_*`` environment it runs with (workers for it need the same)."""
        self.environment.update(
            TANDEM_PORT=str(port),
            TANDEM_DATA_DIR=str(data_dir),
            TANDEM_TRITON_GRPC_URL=triton_grpc_url,
            TANDEM_WORKERS="0",
            TANDEM_QUEUE_NAME=f"tandem-{uuid.uuid4().hex[:8]}",
            PYTHONUNBUFFERED="1",
        )
        self.environment.update(environment)
        self.log_path = data_dir / "server.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "clients.cli", "serve"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment,
                cwd=PROJECT_ROOT,
                preexec_fn=tied_to_this_process(),
            )
        problem = wait_until_healthy(self.process, f"{self.http_url}/health/live", start_timeout_s)
        if problem is not None:
            self.stop()
            raise RuntimeError(f"tandem serve {problem}:\n{self.log_tail()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM (a clean shutdown), SIGKILL after ``timeout_s``; the exit code."""
        stop_process(self.process, timeout_s)
        return self.process.returncode
