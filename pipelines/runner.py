"""Runs one job: its steps in order (the stages of a step at once), each stage timed and recorded on the job row.

``run_job`` is what RQ calls with the job id. The runner owns the rules every stage shares:
progress and the per-stage record, cancel at a stage boundary, retry with backoff while Triton is
unreachable, a failed optional stage leaves a warning and the job goes on, a failed required
stage fails the job with its reason.

Every claimed job ends: a run stopped by RQ's timeout (SIGALRM, usually while a stage waits on
Triton) or by an unexpected error (the database, a bug) is failed with the reason. Only when
even that cannot be written does the exception go to RQ, whose retry runs the job again (a
retry counts as an attempt, so ``TANDEM_JOB_MAX_ATTEMPTS`` bounds it). Every write of the run
is compare-and-set on the job still running on this worker: a run whose job was taken over
stops without touching it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from rq import get_current_job
from rq.timeouts import JobTimeoutException
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from core.inference import InferenceClient, InferenceUnavailable
from core.llm_client import LlmClient
from core.metrics import JOB_STAGE_SECONDS
from core.persistence import jobs as repository
from core.persistence.jobs import JobView, StageRecord, StageStatus
from core.persistence.states import JobStatus
from core.storage.keys import job_prefix
from pipelines.job_metrics import record_finished_job, record_queue_wait
from pipelines.job_state import JobState
from pipelines.services import WorkerServices, worker_services
from pipelines.stages import Stage, StageContext, stages_for
from pipelines.worker_identity import worker_alive, worker_identity

log = structlog.get_logger(__name__)

_LOST = (repository.JobLostError, repository.JobNotFoundError, repository.JobFinishedError)
"""The job was deleted, finished or taken over by another worker while this run went on."""


def run_job(job_id: str) -> str:
    """RQ entry point: run the job's stages; returns its final status."""
    services = worker_services()
    rq_job = get_current_job()
    record_queue_wait(rq_job.enqueued_at if rq_job is not None else None)
    worker = worker_identity()
    view = repository.claim_job(
        services.database,
        job_id,
        worker,
        lambda other: worker_alive(other, services),
        max_attempts=services.settings.job_max_attempts,
    )
    if view is None:
        log.info("job.skipped", job_id=job_id, reason="finished, deleted or running elsewhere")
        return "skipped"
    if view.finished:  # the claim ended it: cancelled meanwhile, or out of attempts
        log.warning("job.ended_unrun", job_id=job_id, status=view.status.value, error=view.error)
        record_finished_job(services.database, view, view.status, 0.0)
        _announce(services, view)
        return view.status.value
    log.info("job.started", job_id=job_id, attempt=view.attempts, worker=worker)
    try:
        status: JobStatus | None = asyncio.run(JobRunner(services, view, worker).run())
    except _LOST:
        status = None
    except JobTimeoutException:
        limit = services.settings.job_timeout_s
        status = _fail(services, view, worker, f"the job ran longer than its limit of {limit} s (TANDEM_JOB_TIMEOUT_S)")
    except Exception as exc:
        log.exception("job.crashed", job_id=job_id, worker=worker)
        status = _fail(services, view, worker, f"the job stopped on an unexpected error: {_describe(exc)}")
    if status is None:
        log.warning("job.lost", job_id=job_id, worker=worker, reason="deleted, finished or taken over meanwhile")
        if repository.get_job(services.database, job_id) is None:  # deleted: remove what this run wrote
            services.store.delete_prefix(job_prefix(job_id))
        return "lost"
    log.info("job.finished", job_id=job_id, status=status.value)
    _announce(services, view)
    return status.value


def _announce(services: WorkerServices, view: JobView) -> None:
    """Queue the delivery of the job's final status to its ``webhook_url``, if it has one."""
    if view.params.webhook_url:
        services.queue.enqueue_webhook(view.id)


def _fail(services: WorkerServices, view: JobView, worker: str, reason: str) -> JobStatus | None:
    """Fail a run that stopped outside the stage rules (``None``: the job is no longer this run's).

    An error writing it (the database is down) goes to RQ, whose retry comes back to this job.
    """
    log.warning("job.failed", job_id=view.id, worker=worker, error=reason)
    try:
        return repository.finish_job(services.database, view.id, JobStatus.FAILED, error=reason, worker=worker).status
    except _LOST:
        return None


@dataclass
class _Progress:
    records: list[StageRecord]
    done_weight: float = 0.0
    total_weight: float = 1.0

    @property
    def percent(self) -> int:
        return int(99 * self.done_weight / self.total_weight)


class JobRunner:
    """Runs the stages of one claimed job against Triton."""

    def __init__(self, services: WorkerServices, view: JobView, worker: str) -> None:
        self._services = services
        self._view = view
        self._worker = worker

    async def run(self) -> JobStatus:
        steps = stages_for(self._view.params)
        progress = _Progress(records=[], total_weight=sum(stage.weight for step in steps for stage in step))
        state = JobState(job_id=self._view.id)
        settings = self._services.settings
        inference = InferenceClient(settings.triton_grpc_url, batch_requests_in_flight=settings.job_requests_in_flight)
        llm = (
            LlmClient(
                settings.llm_url,
                model=settings.llm_model,
                api_key=settings.llm_api_key,
                timeout_s=settings.llm_timeout_s,
            )
            if settings.llm_url
            else None
        )
        context = StageContext(
            job=self._view,
            params=self._view.params,
            settings=settings,
            database=self._services.database,
            store=self._services.store,
            inference=inference,
            llm=llm,
        )
        try:
            for step in steps:
                if self._save(progress, step[0].name):
                    return self._finish(JobStatus.CANCELLED, state)
                failures = await asyncio.gather(*(self._run_stage(stage, context, state, progress) for stage in step))
                failure = next((failure for failure in failures if failure is not None), None)
                if failure is not None:
                    return self._finish(JobStatus.FAILED, state, error=failure)
            self._save(progress, None)
            return self._finish(JobStatus.COMPLETED, state)
        finally:
            state.close()
            await inference.close()
            if llm is not None:
                await llm.close()

    async def _run_stage(self, stage: Stage, context: StageContext, state: JobState, progress: _Progress) -> str | None:
        """Run one stage; the job's error if it failed and was required, else ``None``."""
        record = StageRecord(name=stage.name, status=StageStatus.RUNNING, started_at=datetime.now(UTC))
        progress.records.append(record)
        self._save(progress, stage.name)
        started = time.perf_counter()
        error = None
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(InferenceUnavailable),
                wait=wait_exponential(multiplier=0.5, max=8),
                stop=stop_after_delay(self._services.settings.triton_retry_s),
                reraise=True,
            ):
                with attempt:
                    await stage.run(context, state)
        except JobTimeoutException:
            raise  # the job's limit, not this stage's failure: run_job fails the job with it
        except Exception as exc:
            error = _describe(exc)
            log.warning("job.stage_failed", job_id=self._view.id, stage=stage.name, error=error, exc_info=True)
        record.completed_at = datetime.now(UTC)
        elapsed_s = time.perf_counter() - started
        record.duration_ms = int(elapsed_s * 1000)
        JOB_STAGE_SECONDS.labels(stage=stage.name).observe(elapsed_s)
        progress.done_weight += stage.weight
        if error is None:
            record.status = StageStatus.COMPLETED
            return None
        record.error = error
        if stage.optional:
            record.status = StageStatus.SKIPPED
            state.warnings.append(f"{stage.name} skipped: {error}")
            return None
        record.status = StageStatus.FAILED
        self._save(progress, stage.name)
        return f"{stage.name} failed: {error}"

    def _save(self, progress: _Progress, current_stage: str | None) -> bool:
        """Store progress; whether a cancel was requested."""
        return repository.record_progress(
            self._services.database,
            self._view.id,
            progress=progress.percent,
            current_stage=current_stage,
            stages=progress.records,
            worker=self._worker,
        )

    def _finish(self, status: JobStatus, state: JobState, *, error: str | None = None) -> JobStatus:
        repository.finish_job(
            self._services.database, self._view.id, status, error=error, warnings=state.warnings, worker=self._worker
        )
        record_finished_job(self._services.database, self._view, status, state.duration_s)
        return status


def _describe(exc: Exception) -> str:
    if isinstance(exc, InferenceUnavailable):
        return f"the model server is unreachable ({exc})"
    return str(exc) or type(exc).__name__
