"""Starts ``tandem worker`` processes: used by ``tandem serve`` (embedded default) and the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from control_plane.child_process import stop_process


class WorkerProcess:
    """One ``tandem worker`` child process, logging to ``log_path``."""

    def __init__(self, triton_grpc_url: str, log_path: Path, environment: dict[str, str] | None = None) -> None:
        env = dict(os.environ if environment is None else environment)
        env["TANDEM_TRITON_GRPC_URL"] = triton_grpc_url
        env.setdefault("PYTHONUNBUFFERED", "1")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "control_plane.cli", "worker"], stdout=log, stderr=subprocess.STDOUT, env=env
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-job, as a crash would."""
        if self.running():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM (RQ's warm shutdown: the current job may finish), then SIGKILL if it lingers."""
        stop_process(self.process, timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
