"""What a job run adds to the metrics (``core.metrics``): its queue wait, its final status, the
audio it transcribed and, for a session's enhancement at its end, how long the session waited."""

from __future__ import annotations

from datetime import UTC, datetime

from core.jobs.enhancement import first_enhancement_job_id
from core.metrics import ENHANCEMENT_READY_SECONDS, JOB_AUDIO_SECONDS, JOB_QUEUE_WAIT_SECONDS, JOBS
from core.persistence.database import Database
from core.persistence.jobs import JobView
from core.persistence.sessions import get_session
from core.persistence.states import JobStatus


def record_queue_wait(enqueued_at: datetime | None) -> None:
    """A worker took a run queued at ``enqueued_at`` (RQ's time; naive means UTC)."""
    if enqueued_at is None:
        return
    if enqueued_at.tzinfo is None:
        enqueued_at = enqueued_at.replace(tzinfo=UTC)
    JOB_QUEUE_WAIT_SECONDS.observe(max(0.0, (datetime.now(UTC) - enqueued_at).total_seconds()))


def record_finished_job(database: Database, job: JobView, status: JobStatus, audio_seconds: float) -> None:
    """The job ended with ``status``; ``audio_seconds`` of audio counted when it completed."""
    JOBS.labels(status=status.value).inc()
    if status is not JobStatus.COMPLETED:
        return
    JOB_AUDIO_SECONDS.inc(audio_seconds)
    if job.session_id is None or job.id != first_enhancement_job_id(job.session_id):
        return
    session = get_session(database, job.session_id)
    if session is not None and session.ended_at is not None and session.params.get("enhance_on_end"):
        ended_at = session.ended_at if session.ended_at.tzinfo else session.ended_at.replace(tzinfo=UTC)
        ENHANCEMENT_READY_SECONDS.observe(max(0.0, (datetime.now(UTC) - ended_at).total_seconds()))
