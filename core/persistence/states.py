"""Lifecycle states of realtime sessions and batch jobs; values are SPEC's strings."""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    """Status of a realtime (WebSocket) session."""

    ACTIVE = "active"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


class JobStatus(StrEnum):
    """Status of a batch or enhancement job."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
