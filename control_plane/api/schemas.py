"""REST response bodies, one msgspec struct each; clients and tests import these."""

from __future__ import annotations

import msgspec

from control_plane.persistence.sessions import SessionView


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    """Machine-readable: ``session_not_found``, ``session_active``, ``invalid_parameters``, ..."""
    message: str


class ErrorResponse(msgspec.Struct, frozen=True):
    """Every 4xx body: ``{"error": {"code": ..., "message": ...}}``."""

    error: ErrorDetail


SessionResponse = SessionView
"""A realtime session as stored: the repository's snapshot is the response body as it is."""


class SessionListResponse(msgspec.Struct, frozen=True):
    """One page of sessions, newest first; pass ``cursor`` back for the next when ``has_more``."""

    sessions: list[SessionResponse]
    cursor: str | None
    has_more: bool
