"""Hybrid mode: a finished live session's recording becomes an enhancement job.

The job reads the stored recording (``sessions/{id}/audio.wav``), never an in-memory copy, and
runs the batch pipeline with diarization and word timestamps on. The same function serves the
end of a live session, ``POST .../{session_id}/enhance`` and the start-up repair of sessions a
killed server left behind.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

import msgspec
import structlog

from core.jobs.params import JobParams, SpeakerDetection
from core.jobs.queue import JobQueue
from core.persistence import jobs as job_repository
from core.persistence import sessions as session_repository
from core.persistence.database import Database
from core.persistence.jobs import JobSource, JobView
from core.persistence.sessions import SessionView
from core.persistence.states import JobStatus, SessionStatus
from core.protocol import SessionParams
from core.storage.base import ObjectStore
from core.storage.keys import session_audio_key

log = structlog.get_logger(__name__)

_ENHANCEMENT_NAMESPACE = uuid.UUID("5f0c8a52-7a55-4a43-9a4e-2f1f6a9a8d31")


class EnhancementStatus(StrEnum):
    """A session's enhancement, as ``GET .../{session_id}/enhancement`` reports it."""

    NOT_REQUESTED = "not_requested"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class EnhancementUnavailable(RuntimeError):
    """The session cannot be enhanced (still active, no recording, or already enhanced)."""


class EnhancementNotQueued(RuntimeError):
    """The job row exists but its queue message could not be sent; the job is marked failed."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(reason)
        self.job_id = job_id


def session_params(session: SessionView) -> SessionParams:
    """The parameters a session was opened with, decoded from its row."""
    return msgspec.convert(session.params, SessionParams)


def enhancement_params(params: SessionParams) -> JobParams:
    """The job parameters of a session's enhancement: diarized, word times, the optional stages asked for."""
    return JobParams(
        language=params.language,
        speaker_detection=SpeakerDetection.DIARIZE,
        num_speakers=params.num_speakers,
        min_speakers=params.min_speakers,
        max_speakers=params.max_speakers,
        word_timestamps=True,
        llm_cleanup=params.enhance_llm_cleanup,
        emotions=params.enhance_emotions,
    )


def first_enhancement_job_id(session_id: str) -> str:
    """The id of a session's first enhancement job, known before the job exists.

    Derived from the session id, so the id ``session.end`` announces is the one the job gets even
    when the job is only created later (by the start-up repair after a server failure).
    """
    return str(uuid.uuid5(_ENHANCEMENT_NAMESPACE, session_id))


def enhance_session(database: Database, store: ObjectStore, queue: JobQueue, session: SessionView) -> JobView:
    """Create the enhancement job of a finished session from its stored recording, and queue it.

    Raises :class:`EnhancementUnavailable` when the session is active, has no recording or already
    has a job that is not failed or cancelled; :class:`EnhancementNotQueued` when queueing failed
    (the job is then ``failed`` with the reason, and can be requested again).
    """
    if session.status is SessionStatus.ACTIVE:
        raise EnhancementUnavailable(f"session {session.id} is still active")
    audio_key = session_audio_key(session.id)
    if not store.exists(audio_key):
        raise EnhancementUnavailable(f"session {session.id} has no stored audio (it needs store_audio=true)")
    first_job_id = first_enhancement_job_id(session.id)
    current = job_repository.get_job(database, session.enhancement_job_id or first_job_id)
    if current is not None and current.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise EnhancementUnavailable(f"session {session.id} already has enhancement job {current.id}")
    fresh = current is None and session.enhancement_job_id is None
    try:
        view = _create_session_job(database, session, first_job_id if fresh else job_repository.new_job_id())
    except job_repository.JobActiveError as exc:  # a concurrent request created it first
        raise EnhancementUnavailable(f"session {session.id} already has enhancement job {exc}") from exc
    try:
        queue.enqueue_run(view.id)
    except Exception as exc:
        reason = f"the enhancement job could not be queued: {exc}"
        job_repository.finish_job(database, view.id, JobStatus.FAILED, error=reason)
        raise EnhancementNotQueued(view.id, reason) from exc
    log.info("enhancement.queued", session_id=session.id, job_id=view.id)
    return view


def record_failed_enhancement(database: Database, session: SessionView, reason: str) -> JobView:
    """A session that asked for enhancement but cannot have it (its recording failed): the job
    exists, ``failed`` with the reason, so the id announced in ``session.end`` explains itself
    (a job that already exists under that id is left as it is)."""
    job_id = first_enhancement_job_id(session.id)
    existing = job_repository.get_job(database, job_id)
    if existing is not None:
        return existing
    _create_session_job(database, session, job_id)
    return job_repository.finish_job(database, job_id, JobStatus.FAILED, error=reason)


def _create_session_job(database: Database, session: SessionView, job_id: str) -> JobView:
    """The ``pending`` enhancement job of ``session``, reading its stored recording; the session links to it."""
    return job_repository.create_job(
        database,
        job_id=job_id,
        source=JobSource.SESSION,
        params=enhancement_params(session_params(session)),
        input_key=session_audio_key(session.id),
        session_id=session.id,
        tenant=session.tenant,
    )


def enhancement_status(job: JobView | None) -> EnhancementStatus:
    if job is None:
        return EnhancementStatus.NOT_REQUESTED
    return {
        JobStatus.PENDING: EnhancementStatus.PENDING,
        JobStatus.RUNNING: EnhancementStatus.RUNNING,
        JobStatus.COMPLETED: EnhancementStatus.COMPLETED,
    }.get(job.status, EnhancementStatus.FAILED)


def enhance_repaired_sessions(
    database: Database, store: ObjectStore, queue: JobQueue, session_ids: list[str]
) -> list[str]:
    """At start-up: enhance the repaired sessions (a killed server's) that asked for it; the job ids."""
    job_ids = []
    for session_id in session_ids:
        session = session_repository.get_session(database, session_id)
        if session is None or not session_params(session).enhance_on_end or session.enhancement_job_id:
            continue
        try:
            job_ids.append(enhance_session(database, store, queue, session).id)
        except (EnhancementUnavailable, EnhancementNotQueued) as exc:
            log.warning("enhancement.repair_skipped", session_id=session_id, reason=str(exc))
    return job_ids
