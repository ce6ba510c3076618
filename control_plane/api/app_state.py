"""Typed access to the shared clients the application's lifespan put in ``app.state``."""

from __future__ import annotations

from litestar.datastructures import State

from control_plane.job_queue import JobQueue
from control_plane.persistence.database import Database
from control_plane.storage.base import ObjectStore


def database(state: State) -> Database:
    return state.database  # type: ignore[no-any-return]


def store(state: State) -> ObjectStore:
    return state.store  # type: ignore[no-any-return]


def job_queue(state: State) -> JobQueue:
    return state.job_queue  # type: ignore[no-any-return]
