"""Who runs a job: a worker's unique name (:mod:`core.process_identity`), and whether it still exists.

A worker is alive while its RQ record exists: RQ expires it unless the worker's heartbeat renews
it (during a job too, see :class:`pipelines.worker.TandemWorker`).
"""

from __future__ import annotations

import functools

from core.process_identity import gone_from_this_host, new_process_name
from pipelines.services import WorkerServices


@functools.cache
def worker_identity() -> str:
    """``host:pid:token`` of this worker process (also its RQ worker name), fixed for its life."""
    return new_process_name()


def worker_alive(identity: str, services: WorkerServices) -> bool:
    """Whether the worker ``identity`` still exists: its RQ record is alive (and, on this host, its PID)."""
    if gone_from_this_host(identity):
        return False
    return bool(services.queue.connection.exists(f"rq:worker:{identity}"))
