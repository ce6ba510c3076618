"""Starts ``tandem worker`` processes: used by ``tandem serve`` (embedded default) and the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from launchers.child_process import stop_process, tied_to_this_process


class WorkerProcess:
    """One ``tandem worker`` child process, logging to ``log_path``.

    It runs in a process group of its own, which also holds RQ's scheduler process (forked by the
    worker): killing the group leaves no orphan behind.
    """

    def __init__(self, triton_grpc_url: str, log_path: Path, environment: dict[str, str] | None = None) -> None:
        env = dict(os.environ if environment is None else environment)
        env["TANDEM_TRITON_GRPC_URL"] = triton_grpc_url
        env.setdefault("PYTHONUNBUFFERED", "1")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "clients.cli", "worker"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=tied_to_this_process(),
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the worker's group: it dies mid-job, as a crash of its machine would."""
        if self.running():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM (RQ's warm shutdown: the current job may finish), then SIGKILL to the group if it lingers."""
        stop_process(self.process, timeout_s, kill_group=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
