"""Following a job as it runs: its row, each time status, progress or stage changes.

The SQL row is the one owner of a job's state, so watching it is polling it (cheap: one primary-key
read per interval). Used by the SSE endpoint and the live socket's ``enhance_wait`` push.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import anyio

from core.persistence import jobs as repository
from core.persistence.database import Database
from core.persistence.jobs import JobView

POLL_INTERVAL_S = 0.25


async def watch_job(
    database: Database,
    job_id: str,
    poll_interval_s: float = POLL_INTERVAL_S,
    stop_when: Callable[[], bool] | None = None,
) -> AsyncIterator[JobView]:
    """Yield the job's row when it changes; the last one yielded is finished (or the job is gone,
    or ``stop_when`` said so: it is asked before every read)."""
    seen = None
    while stop_when is None or not stop_when():
        view = await anyio.to_thread.run_sync(repository.get_job, database, job_id)
        if view is None:
            return
        fingerprint = (view.status, view.progress, view.current_stage, len(view.stages))
        if fingerprint != seen:
            seen = fingerprint
            yield view
        if view.finished:
            return
        await asyncio.sleep(poll_interval_s)


async def wait_for_job(database: Database, job_id: str) -> JobView | None:
    """The job's row once it finished (``None`` if it disappeared): for answers that wait for their job."""
    last = None
    async for view in watch_job(database, job_id):
        last = view
    return last if last is not None and last.finished else None
