"""Typed access to the shared clients the application's lifespan put in ``app.state``."""

from __future__ import annotations

from litestar.datastructures import State

from core.jobs.queue import JobQueue
from core.persistence.database import Database
from core.settings import Settings
from core.storage.base import ObjectStore


def database(state: State) -> Database:
    return state.database  # type: ignore[no-any-return]


def store(state: State) -> ObjectStore:
    return state.store  # type: ignore[no-any-return]


def job_queue(state: State) -> JobQueue:
    return state.job_queue  # type: ignore[no-any-return]


def settings(state: State) -> Settings:
    return state.settings  # type: ignore[no-any-return]
