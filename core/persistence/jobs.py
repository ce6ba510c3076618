"""Repository of batch and enhancement jobs: the SQL row is the one owner of a job's state.

RQ only carries the work (a message with the job id); status, progress, the current stage, the
per-stage record, errors and warnings live here. Returns plain structs, never ORM objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

import msgspec
from sqlalchemy import func, select, update

from core.jobs.params import JobParams
from core.persistence.database import Database
from core.persistence.models import JobRecord, SessionRecord
from core.persistence.pagination import newest_first, page_of
from core.persistence.states import JobStatus
from core.persistence.tenant_filter import get_owned, owned_by
from core.tenancy import DEFAULT_TENANT

FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobSource(StrEnum):
    UPLOAD = "upload"
    SESSION = "session"


class StageStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    """An optional stage that failed (a warning says why) or was not asked for."""


class StageRecord(msgspec.Struct, kw_only=True):
    """One stage of a job run, as the runner recorded it."""

    name: str
    status: StageStatus
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    error: str | None = None


class JobFields(msgspec.Struct, kw_only=True):
    """The fields of a job row that clients see (the base of :class:`JobView` and of the job's body)."""

    id: str
    tenant: str
    status: JobStatus
    source: JobSource
    session_id: str | None
    params: JobParams
    progress: int
    """Integer percent, 0-100."""
    current_stage: str | None
    stages: list[StageRecord]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    warnings: list[str] = []


class JobView(JobFields, frozen=True, kw_only=True):
    """A snapshot of one job row."""

    input_key: str | None
    cancel_requested: bool
    worker: str | None
    attempts: int

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class JobPage(NamedTuple):
    jobs: list[JobView]
    cursor: str | None
    has_more: bool
    total: int


class JobNotFoundError(LookupError):
    """No job row has this id."""


class JobFinishedError(RuntimeError):
    """The job already reached a final status."""


class JobActiveError(RuntimeError):
    """The job is pending or running, so it cannot be changed this way."""


class JobLostError(RuntimeError):
    """The job is no longer running on this worker (finished, or claimed again by another worker)."""


def new_job_id() -> str:
    """A job id: a UUID string (clients such as Dalston's SDK parse job ids as UUIDs)."""
    return str(uuid.uuid4())


def create_job(
    db: Database,
    *,
    job_id: str,
    source: JobSource,
    params: JobParams,
    input_key: str,
    session_id: str | None = None,
    tenant: str = DEFAULT_TENANT,
) -> JobView:
    """Insert a ``pending`` job of ``tenant``; for a session's enhancement, also link the session to it.

    A session has one live enhancement at a time: under the session row's lock, raises
    :class:`JobActiveError` when the session's current job is neither failed nor cancelled
    (two concurrent requests: one job, one refusal).
    """
    record = JobRecord(
        id=job_id,
        tenant=tenant,
        status=JobStatus.PENDING,
        source=source,
        session_id=session_id,
        params=msgspec.to_builtins(params),
        progress=0,
        current_stage=None,
        stages=[],
        warnings=[],
        input_key=input_key,
        cancel_requested=False,
        attempts=0,
        created_at=datetime.now(UTC),
    )
    with db.transaction() as session:
        if session_id is not None:
            owner = session.get(SessionRecord, session_id, with_for_update=True)
            current = session.get(JobRecord, owner.enhancement_job_id) if owner and owner.enhancement_job_id else None
            if current is not None and current.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
                raise JobActiveError(current.id)
            if owner is not None:
                owner.enhancement_job_id = job_id
        session.add(record)
        session.flush()
        return _view(record)


def get_job(db: Database, job_id: str, *, tenant: str | None = None) -> JobView | None:
    """The job with this id, or ``None`` (also when it belongs to another ``tenant``)."""
    with db.transaction() as session:
        record = get_owned(session, JobRecord, job_id, tenant)
        return None if record is None else _view(record)


def list_jobs(
    db: Database,
    *,
    status: JobStatus | None = None,
    limit: int = 50,
    cursor: str | None = None,
    offset: int = 0,
    tenant: str | None = None,
) -> JobPage:
    """``tenant``'s jobs newest first; ``cursor`` (keyset) or ``offset`` pages through them."""
    query = owned_by(select(JobRecord), JobRecord.tenant, tenant)
    count = owned_by(select(func.count()).select_from(JobRecord), JobRecord.tenant, tenant)
    if status is not None:
        query = query.where(JobRecord.status == status)
        count = count.where(JobRecord.status == status)
    query = newest_first(query, JobRecord.created_at, JobRecord.id, limit=limit, cursor=cursor).offset(offset)
    with db.transaction() as session:
        views = [_view(record) for record in session.scalars(query)]
        total = session.scalar(count) or 0
    return JobPage(*page_of(views, limit), total)


def claim_job(
    db: Database, job_id: str, worker: str, worker_alive: Callable[[str], bool], *, max_attempts: int = 3
) -> JobView | None:
    """Mark a job ``running`` on ``worker`` and count the attempt; returns the job to run.

    ``None`` when there is nothing to run and nothing changed: the job is gone, finished, or
    running on another worker that ``worker_alive`` says still exists (a duplicate message). A
    finished view when this claim ended the job instead: cancelled while it waited for a worker,
    or ``failed`` after ``max_attempts`` runs that never ended (the caller announces the ending).
    The same worker may claim a job again: its earlier run is over (a worker runs one job at a time).
    """
    with db.transaction() as session:
        record = session.get(JobRecord, job_id, with_for_update=True)
        if record is None or record.status in FINISHED:
            return None
        if (
            record.status == JobStatus.RUNNING
            and record.worker
            and record.worker != worker
            and worker_alive(record.worker)
        ):
            return None
        if record.cancel_requested:
            _finish(record, JobStatus.CANCELLED, error=None)
            session.flush()
            return _view(record)
        if record.attempts >= max_attempts:
            _finish(record, JobStatus.FAILED, error=f"worker died {record.attempts} times on this job")
            session.flush()
            return _view(record)
        record.status = JobStatus.RUNNING
        record.worker = worker
        record.attempts += 1
        record.started_at = record.started_at or datetime.now(UTC)
        record.error = None
        session.flush()
        return _view(record)


def record_progress(
    db: Database,
    job_id: str,
    *,
    progress: int,
    current_stage: str | None,
    stages: list[StageRecord],
    worker: str,
) -> bool:
    """Store the runner's progress; returns whether a cancel was requested meanwhile.

    Raises :class:`JobLostError` when the job is no longer running on ``worker``.
    """
    with db.transaction() as session:
        record = session.get(JobRecord, job_id, with_for_update=True)
        if record is None:
            raise JobNotFoundError(job_id)
        if record.status != JobStatus.RUNNING or record.worker != worker:
            raise JobLostError(job_id)
        record.progress = max(0, min(100, progress))
        record.current_stage = current_stage
        record.stages = [msgspec.to_builtins(stage) for stage in stages]
        return record.cancel_requested


def finish_job(
    db: Database,
    job_id: str,
    status: JobStatus,
    *,
    error: str | None = None,
    warnings: list[str] | None = None,
    worker: str | None = None,
) -> JobView:
    """Record a final status (``completed``, ``failed`` or ``cancelled``), once.

    Compare-and-set: raises :class:`JobFinishedError` when the job already ended and, with
    ``worker``, :class:`JobLostError` unless the job is still ``running`` on that worker.
    """
    if status not in FINISHED:
        raise ValueError(f"{status} is not a final status")
    with db.transaction() as session:
        record = session.get(JobRecord, job_id, with_for_update=True)
        if record is None:
            raise JobNotFoundError(job_id)
        if record.status in FINISHED:
            raise JobFinishedError(job_id)
        if worker is not None and (record.status != JobStatus.RUNNING or record.worker != worker):
            raise JobLostError(job_id)
        _finish(record, status, error=error)
        if warnings is not None:
            record.warnings = warnings
        session.flush()
        return _view(record)


def request_cancel(db: Database, job_id: str, *, tenant: str | None = None) -> JobView:
    """Cancel a job: a ``pending`` one at once, a ``running`` one at its next stage boundary.

    Raises :class:`JobNotFoundError` (also for another ``tenant``'s) or :class:`JobFinishedError`.
    """
    with db.transaction() as session:
        record = get_owned(session, JobRecord, job_id, tenant, for_update=True)
        if record is None:
            raise JobNotFoundError(job_id)
        if record.status in FINISHED:
            raise JobFinishedError(job_id)
        record.cancel_requested = True
        if record.status == JobStatus.PENDING:
            _finish(record, JobStatus.CANCELLED, error=None)
        session.flush()
        return _view(record)


def reset_to_pending(db: Database, job_id: str, dead_worker: str | None) -> bool:
    """Put a job whose worker died back to ``pending`` (it is queued again); compare-and-set on
    the job still ``running`` on ``dead_worker``. Whether it was reset."""
    with db.transaction() as session:
        result = session.execute(
            update(JobRecord)
            .where(JobRecord.id == job_id, JobRecord.status == JobStatus.RUNNING, JobRecord.worker == dead_worker)
            .values(status=JobStatus.PENDING, worker=None)
        )
        return result.rowcount == 1


def unfinished_jobs(db: Database) -> list[JobView]:
    """Every ``pending`` or ``running`` job, oldest first."""
    query = (
        select(JobRecord)
        .where(JobRecord.status.in_([JobStatus.PENDING, JobStatus.RUNNING]))
        .order_by(JobRecord.created_at)
    )
    with db.transaction() as session:
        return [_view(record) for record in session.scalars(query)]


def delete_job(db: Database, job_id: str, *, tenant: str | None = None) -> JobView:
    """Delete a job row (its stored objects are the caller's to remove); returns what was deleted.

    A running job is cancelled instead of deleted under its worker: raises :class:`JobActiveError`;
    another ``tenant``'s job is :class:`JobNotFoundError`.
    """
    with db.transaction() as session:
        record = get_owned(session, JobRecord, job_id, tenant, for_update=True)
        if record is None:
            raise JobNotFoundError(job_id)
        if record.status == JobStatus.RUNNING:
            raise JobActiveError(job_id)
        view = _view(record)
        session.delete(record)
        if record.session_id is not None:
            session.execute(
                update(SessionRecord)
                .where(SessionRecord.id == record.session_id, SessionRecord.enhancement_job_id == job_id)
                .values(enhancement_job_id=None)
            )
        return view


def _finish(record: JobRecord, status: JobStatus, *, error: str | None) -> None:
    record.status = status
    record.error = error
    record.completed_at = datetime.now(UTC)
    if status == JobStatus.COMPLETED:
        record.progress = 100
        record.current_stage = None


def _view(record: JobRecord) -> JobView:
    return JobView(
        id=record.id,
        tenant=record.tenant,
        status=JobStatus(record.status),
        source=JobSource(record.source),
        session_id=record.session_id,
        params=msgspec.convert(record.params or {}, JobParams),
        progress=int(record.progress or 0),
        current_stage=record.current_stage,
        stages=msgspec.convert(record.stages or [], list[StageRecord], strict=False),
        error=record.error,
        warnings=list(record.warnings or []),
        input_key=record.input_key,
        cancel_requested=bool(record.cancel_requested),
        worker=record.worker,
        attempts=int(record.attempts or 0),
        created_at=record.created_at,
        started_at=record.started_at,
        completed_at=record.completed_at,
    )
