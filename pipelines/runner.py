"""Runs one job: its steps in order (the stages of a step at once), each stage timed and recorded on the job row.

``run_job`` is what RQ calls with the job id. The runner owns the rules every stage shares:
progress and the per-stage record, cancel at a stage boundary, retry with backoff while Triton is
unreachable, a failed optional stage leaves a warning and the job goes on, a failed required
stage fails the job with its reason.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from rq import get_current_job
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from core.inference import InferenceClient, InferenceUnavailable
from core.llm_client import LlmClient
from core.metrics import JOB_STAGE_SECONDS
from core.persistence import jobs as repository
from core.persistence.jobs import JobView, StageRecord, StageStatus
from core.persistence.states import JobStatus
from pipelines.job_metrics import record_finished_job, record_queue_wait
from pipelines.job_state import JobState
from pipelines.services import WorkerServices, worker_services
from pipelines.stages import Stage, StageContext, stages_for
from pipelines.worker_identity import worker_alive, worker_identity

log = structlog.get_logger(__name__)


def run_job(job_id: str) -> str:
    """RQ entry point: run the job's stages; returns its final status."""
    services = worker_services()
    rq_job = get_current_job()
    record_queue_wait(rq_job.enqueued_at if rq_job is not None else None)
    view = repository.claim_job(
        services.database, job_id, worker_identity(), lambda other: worker_alive(other, services)
    )
    if view is None:
        log.info("job.skipped", job_id=job_id, reason="finished, cancelled or deleted")
        return "skipped"
    log.info("job.started", job_id=job_id, attempt=view.attempts)
    status = asyncio.run(JobRunner(services, view).run())
    log.info("job.finished", job_id=job_id, status=status.value)
    if view.params.webhook_url:
        services.queue.enqueue_webhook(job_id)
    return status.value


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

    def __init__(self, services: WorkerServices, view: JobView) -> None:
        self._services = services
        self._view = view

    async def run(self) -> JobStatus:
        steps = stages_for(self._view.params)
        progress = _Progress(records=[], total_weight=sum(stage.weight for step in steps for stage in step))
        state = JobState(job_id=self._view.id)
        settings = self._services.settings
        inference = InferenceClient(settings.triton_grpc_url)
        llm = (
            LlmClient(settings.llm_url, model=settings.llm_model, api_key=settings.llm_api_key,
                      timeout_s=settings.llm_timeout_s)
            if settings.llm_url
            else None
        )
        context = StageContext(
            job=self._view, params=self._view.params, settings=settings,
            database=self._services.database, store=self._services.store, inference=inference, llm=llm,
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
            await inference.close()
            if llm is not None:
                await llm.close()

    async def _run_stage(
        self, stage: Stage, context: StageContext, state: JobState, progress: _Progress
    ) -> str | None:
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
        )

    def _finish(self, status: JobStatus, state: JobState, *, error: str | None = None) -> JobStatus:
        repository.finish_job(self._services.database, self._view.id, status, error=error, warnings=state.warnings)
        record_finished_job(self._services.database, self._view, status, state.duration_s)
        return status


def _describe(exc: Exception) -> str:
    if isinstance(exc, InferenceUnavailable):
        return f"the model server is unreachable ({exc})"
    return str(exc) or type(exc).__name__
