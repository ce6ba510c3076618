"""Stopping the child processes the launchers start (Triton, llama.cpp, Redis, workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx


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


def wait_until_healthy(process: subprocess.Popen, health_url: str, timeout_s: float) -> str | None:
    """``None`` once ``health_url`` answers 200; otherwise why not (the process exited, or time ran out).

    A started server's quiet failure modes (a hang in initialisation, ports never opened) end in
    the timeout, so the caller can show the server's log instead of waiting forever.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with {process.returncode}"
        try:
            if httpx.get(health_url, timeout=1).status_code == 200:
                return None
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return f"not ready after {timeout_s:.0f} s"
