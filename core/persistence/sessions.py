"""Repository of realtime session records; returns plain structs, never ORM objects."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import delete, select, update

from core.persistence.database import Database
from core.persistence.models import JobRecord, SessionRecord
from core.persistence.pagination import newest_first, page_of
from core.persistence.states import SessionStatus
from core.persistence.tenant_filter import get_owned, owned_by
from core.tenancy import DEFAULT_TENANT


class SessionView(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one session record."""

    id: str
    tenant: str
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


class SessionPage(NamedTuple):
    """One page of :func:`list_sessions`: ``cursor`` fetches the next page when ``has_more``."""

    sessions: list[SessionView]
    cursor: str | None
    has_more: bool


class SessionNotFoundError(LookupError):
    """No session record has this id."""


class SessionActiveError(RuntimeError):
    """The session is still active, so it cannot be changed this way."""


def new_session_id() -> str:
    """A fresh session id: ``sess_`` followed by 32 hex digits."""
    return f"sess_{uuid.uuid4().hex}"


def create_session(
    db: Database,
    *,
    params: dict[str, Any],
    model: str,
    language: str,
    sample_rate: int,
    encoding: str,
    session_id: str | None = None,
    created_at: datetime | None = None,
    tenant: str = DEFAULT_TENANT,
    owner: str | None = None,
) -> SessionView:
    """Insert an ``active`` session of ``tenant``; ``params`` holds every effective session parameter,
    ``owner`` names the control plane serving it."""
    record = SessionRecord(
        id=session_id or new_session_id(),
        tenant=tenant,
        status=SessionStatus.ACTIVE,
        created_at=created_at or datetime.now(UTC),
        ended_at=None,
        params=params,
        model=model,
        language=language,
        sample_rate=sample_rate,
        encoding=encoding,
        total_audio_seconds=0.0,
        total_duration=0.0,
        utterance_count=0,
        transcript="",
        owner=owner,
    )
    with db.transaction() as session:
        session.add(record)
        session.flush()
        return _view(record)


def finalize_session(
    db: Database,
    session_id: str,
    *,
    status: SessionStatus,
    ended_at: datetime,
    total_audio_seconds: float,
    total_duration: float,
    utterance_count: int,
    transcript: str,
    audio_uri: str | None,
    transcript_uri: str | None,
    enhancement_job_id: str | None = None,
    error: str | None = None,
) -> SessionView:
    """Record how a session ended (``completed``, ``interrupted`` or ``failed``) and its totals."""
    if status is SessionStatus.ACTIVE:
        raise ValueError("a session is finalized with a terminal status, not 'active'")
    with db.transaction() as session:
        record = session.get(SessionRecord, session_id, with_for_update=True)
        if record is None:
            raise SessionNotFoundError(session_id)
        record.status = status
        record.ended_at = ended_at
        record.total_audio_seconds = total_audio_seconds
        record.total_duration = total_duration
        record.utterance_count = utterance_count
        record.transcript = transcript
        record.audio_uri = audio_uri
        record.transcript_uri = transcript_uri
        if enhancement_job_id is not None:  # never unlink a job created meanwhile (a POST .../enhance)
            record.enhancement_job_id = enhancement_job_id
        record.error = error
        session.flush()
        return _view(record)


def get_session(db: Database, session_id: str, *, tenant: str | None = None) -> SessionView | None:
    """The session with this id, or ``None`` (also when it belongs to another ``tenant``)."""
    with db.transaction() as session:
        record = get_owned(session, SessionRecord, session_id, tenant)
        return None if record is None else _view(record)


def list_sessions(
    db: Database,
    *,
    status: SessionStatus | None = None,
    limit: int = 50,
    cursor: str | None = None,
    tenant: str | None = None,
) -> SessionPage:
    """``tenant``'s sessions newest first (``created_at`` then ``id`` descending), ``limit`` per page.

    Raises :class:`InvalidCursorError` for a cursor this function did not issue.
    """
    query = owned_by(select(SessionRecord), SessionRecord.tenant, tenant)
    if status is not None:
        query = query.where(SessionRecord.status == status)
    query = newest_first(query, SessionRecord.created_at, SessionRecord.id, limit=limit, cursor=cursor)
    with db.transaction() as session:
        views = [_view(record) for record in session.scalars(query)]
    return SessionPage(*page_of(views, limit))


def delete_session(db: Database, session_id: str, *, tenant: str | None = None) -> list[str]:
    """Delete a finished session's record and its enhancement jobs' rows; the ids of those jobs
    (their stored objects, and the session's, are the caller's to remove).

    A running job loses its row under its worker, which then stops at its next step and removes
    what it wrote. Raises :class:`SessionNotFoundError` (also for another ``tenant``'s) or, while
    the session is active, :class:`SessionActiveError`.
    """
    with db.transaction() as session:
        record = get_owned(session, SessionRecord, session_id, tenant, for_update=True)
        if record is None:
            raise SessionNotFoundError(session_id)
        if record.status == SessionStatus.ACTIVE:
            raise SessionActiveError(session_id)
        job_ids = list(session.scalars(select(JobRecord.id).where(JobRecord.session_id == session_id)))
        session.execute(delete(JobRecord).where(JobRecord.session_id == session_id))
        session.delete(record)
        return job_ids


def mark_active_sessions_interrupted(
    db: Database, ended_at: datetime | None = None, *, owner_alive: Callable[[str | None], bool] | None = None
) -> list[str]:
    """Mark ``active`` sessions whose control plane is gone ``interrupted``; their ids.

    ``owner_alive`` says whether a session's owner still serves it (several control planes on one
    database); without it every ``active`` session is taken as orphaned, which holds when the only
    control plane starts. Each session is marked once (compare-and-set on ``active``), so two
    control planes repairing at once never both report it.
    """
    with db.transaction() as session:
        active = session.execute(
            select(SessionRecord.id, SessionRecord.owner).where(SessionRecord.status == SessionStatus.ACTIVE)
        ).all()
    orphaned = [session_id for session_id, owner in active if owner_alive is None or not owner_alive(owner)]
    repaired = []
    for session_id in orphaned:
        with db.transaction() as session:
            result = session.execute(
                update(SessionRecord)
                .where(SessionRecord.id == session_id, SessionRecord.status == SessionStatus.ACTIVE)
                .values(status=SessionStatus.INTERRUPTED, ended_at=ended_at or datetime.now(UTC))
            )
        if result.rowcount == 1:
            repaired.append(session_id)
    return repaired


def set_audio_uri(db: Database, session_id: str, audio_uri: str) -> None:
    """Record where a session's audio is (used when repairing sessions of a killed server)."""
    with db.transaction() as session:
        session.execute(update(SessionRecord).where(SessionRecord.id == session_id).values(audio_uri=audio_uri))


def _view(record: SessionRecord) -> SessionView:
    return msgspec.convert(record, SessionView, from_attributes=True)
