"""Who runs a job: ``host:pid`` of a worker, and whether that worker still exists."""

from __future__ import annotations

import os
import socket

from pipelines.services import WorkerServices


def worker_identity() -> str:
    """``host:pid`` of this worker process (also its RQ worker name)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_alive(identity: str, services: WorkerServices) -> bool:
    """Whether the worker ``identity`` still exists: its process on this host, its RQ record elsewhere."""
    host, _, pid = identity.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return bool(services.queue.connection.exists(f"rq:worker:{identity}"))
