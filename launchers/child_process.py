"""The lifetime of the child processes the launchers start (Triton, llama.cpp, Redis, workers,
``tandem serve``): they die with their parent however it dies, and stop cleanly when asked."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx

_PR_SET_PDEATHSIG = 1


def tied_to_this_process() -> Callable[[], None]:
    """A ``preexec_fn`` (or ``os.register_at_fork`` hook) by which a child gets SIGKILL when this
    process dies, even by SIGKILL (Linux's ``PR_SET_PDEATHSIG``; elsewhere it does nothing).

    The setting survives ``exec`` but not ``fork``: a child that forks (an RQ worker's scheduler)
    ties its own children again. The parent is the *thread* that started the child: start children
    from the main thread.
    """
    parent = os.getpid()

    def tie() -> None:
        if not sys.platform.startswith("linux"):
            return
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before the call: nobody is left to signal
            os._exit(1)

    return tie


def exit_on_sigterm() -> None:
    """SIGTERM raises ``SystemExit`` in this process's main thread, once (Python's default dies at
    once, running no ``finally``): a script told to stop leaves its ``with`` blocks, which stop the
    children it started (Triton, ``tandem serve``, workers, moto) and remove their files. Only where
    SIGTERM still has its default action, from the main thread; a second SIGTERM does not cut the
    clean-up short (SIGKILL still ends it, and :func:`tied_to_this_process` the children)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def leave(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, lambda *_: None)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)


def stop_process(process: subprocess.Popen | None, timeout_s: float, *, kill_group: bool = False) -> None:
    """SIGTERM, wait up to ``timeout_s`` for the clean exit, then SIGKILL. With ``kill_group`` (it was
    started with ``start_new_session``) whatever is left of its process group is killed as well, however
    the leader ended (Triton's backend stubs can outlive tritonserver)."""
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if kill_group:
        # A group's id is not given to a new process while a member lives: only leftovers get this.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


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
