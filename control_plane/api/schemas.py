"""REST response bodies, one msgspec struct each; clients and tests import these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from control_plane.persistence.states import SessionStatus


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    """Machine-readable: ``session_not_found``, ``session_active``, ``invalid_parameters``, ..."""
    message: str


class ErrorResponse(msgspec.Struct, frozen=True):
    """Every 4xx body: ``{"error": {"code": ..., "message": ...}}``."""

    error: ErrorDetail


class SessionResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A realtime session as stored."""

    id: str
    status: SessionStatus
    created_at: datetime
    ended_at: datetime | None
    params: dict[str, Any]
    """Every effective session parameter, as sent in ``session.begin``'s config."""
    model: str
    language: str
    sample_rate: int
    encoding: str
    total_audio_seconds: float
    total_duration: float
    utterance_count: int
    transcript: str
    audio_uri: str | None
    transcript_uri: str | None
    enhancement_job_id: str | None
    error: str | None


class SessionListResponse(msgspec.Struct, frozen=True):
    """One page of sessions, newest first; pass ``cursor`` back for the next when ``has_more``."""

    sessions: list[SessionResponse]
    cursor: str | None
    has_more: bool
