"""REST response bodies, one msgspec struct each; clients and tests import these."""

from __future__ import annotations

from datetime import datetime

import msgspec

from core.jobs.enhancement import EnhancementStatus
from core.jobs.result import JobBody
from core.persistence.sessions import SessionView
from core.persistence.speakers import SpeakerView
from core.persistence.states import JobStatus
from core.transcript import Transcript


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    """Machine-readable: ``session_not_found``, ``session_active``, ``invalid_parameters``, ..."""
    message: str


class ErrorResponse(msgspec.Struct, frozen=True):
    """Every 4xx body: ``{"error": {"code": ..., "message": ...}}``."""

    error: ErrorDetail
    detail: str = ""
    """The message again, where clients written for FastAPI-style servers (Dalston's) read it."""


SessionResponse = SessionView
"""A realtime session as stored: the repository's snapshot is the response body as it is."""


class SessionListResponse(msgspec.Struct, frozen=True):
    """One page of sessions, newest first; pass ``cursor`` back for the next when ``has_more``."""

    sessions: list[SessionResponse]
    cursor: str | None
    has_more: bool


JobResponse = JobBody
"""A job as stored; with its transcript once completed."""


class JobCreated(msgspec.Struct, frozen=True):
    """``POST /v1/audio/transcriptions`` (201)."""

    id: str
    status: JobStatus
    created_at: datetime


class JobCancelled(msgspec.Struct, frozen=True):
    id: str
    status: JobStatus


class JobListResponse(msgspec.Struct, frozen=True):
    """One page of jobs, newest first: ``cursor``/``has_more`` (keyset) and ``total``/``limit``/``offset``."""

    jobs: list[JobResponse]
    cursor: str | None
    has_more: bool
    total: int
    limit: int
    offset: int


class EnhancementResponse(msgspec.Struct, frozen=True):
    """``GET .../stream/{session_id}/enhancement``: the session's enhancement job and, once done, its transcript."""

    session_id: str
    enhancement_job_id: str | None
    status: EnhancementStatus
    transcript: Transcript | None
    error: str | None = None


SpeakerResponse = SpeakerView
"""An enrolled speaker (``POST /v1/speakers`` answers 201 with it)."""


class SpeakerListResponse(msgspec.Struct, frozen=True):
    """Every enrolled speaker, oldest first."""

    speakers: list[SpeakerResponse]
