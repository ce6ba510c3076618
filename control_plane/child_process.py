"""Stopping the child processes the launchers start (Triton, llama.cpp, Redis, workers)."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process(process: subprocess.Popen | None, timeout_s: float, *, kill_group: bool = False) -> None:
    """SIGTERM, wait up to ``timeout_s`` for the clean exit, then SIGKILL (its process group when
    ``kill_group``: it was started with ``start_new_session``)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        if kill_group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()
