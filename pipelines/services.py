"""What a worker process opens once and every job it runs shares: settings, database, store, queue."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from core.jobs.queue import JobQueue
from core.persistence.database import Database
from core.settings import Settings, load_settings
from core.storage import open_store
from core.storage.base import ObjectStore


@dataclass(frozen=True)
class WorkerServices:
    settings: Settings
    database: Database
    store: ObjectStore
    queue: JobQueue


@functools.cache
def worker_services() -> WorkerServices:
    """This process's services, opened on first use from the ``TANDEM_*`` settings."""
    settings = load_settings()
    if not settings.triton_grpc_url:
        raise RuntimeError("a worker needs TANDEM_TRITON_GRPC_URL (host:port of a running Triton)")
    return WorkerServices(
        settings=settings,
        database=Database.open(settings.resolved_database_url, migrate=False),  # migrated before workers start
        store=open_store(settings),
        queue=JobQueue(settings.redis_url, settings.queue_name, job_timeout_s=settings.job_timeout_s),
    )
