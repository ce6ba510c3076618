"""``tandem worker``: an RQ worker running jobs, and the reaper of jobs whose worker died.

Jobs run in the worker's own process (RQ's ``SimpleWorker``), named ``host:pid:token`` — the name
the job row records. While a job runs, a thread renews the worker's RQ heartbeat (as RQ's forking
worker does), so a worker that died is seen as dead about a minute later on any host.

At start and at every maintenance pass the worker looks at unfinished job rows:
one ``running`` on a worker that no longer exists is queued again at once (RQ's own abandoned-job
retry is the slower fallback), one ``pending`` whose queue message was lost (Redis restarted) is
queued again.
"""

from __future__ import annotations

import importlib
import os
import threading
from datetime import UTC, datetime, timedelta

import structlog
from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job
from rq.job import JobStatus as RqJobStatus
from rq.registry import StartedJobRegistry
from rq.worker import BaseWorker, WorkerStatus

from core.jobs.queue import DELIVER_WEBHOOK, RUN_JOB
from core.log_config import configure_logging
from core.persistence import jobs as repository
from core.persistence.states import JobStatus
from launchers.child_process import tied_to_this_process
from pipelines.services import WorkerServices, worker_services
from pipelines.worker_identity import worker_alive, worker_identity

log = structlog.get_logger(__name__)

LOST_MESSAGE_GRACE = timedelta(seconds=30)
"""A pending row younger than this may still be between its insert and its enqueue."""
_QUEUED_STATES = {RqJobStatus.QUEUED, RqJobStatus.STARTED, RqJobStatus.SCHEDULED, RqJobStatus.DEFERRED}


class TandemWorker(SimpleWorker):
    """A ``SimpleWorker`` whose heartbeat goes on during a job, whose maintenance pass reaps abandoned
    jobs, and whose log lines during a run (RQ's own included) carry the Tandem ``job_id`` it is about."""

    get_heartbeat_ttl = BaseWorker.get_heartbeat_ttl
    """The forking worker's short TTL (renewed every ``job_monitoring_interval``), not the job's whole timeout."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        # Runs and webhook deliveries both take the Tandem job id as their first argument.
        with structlog.contextvars.bound_contextvars(job_id=job.args[0] if job.args else job.id):
            execution = self.prepare_execution(job)
            done = threading.Event()
            beating = threading.Thread(target=self._beat, args=(job, execution, done), daemon=True)
            beating.start()
            try:
                self.perform_job(job, queue, execution)
            finally:
                done.set()
                beating.join()
            self.set_state(WorkerStatus.IDLE)

    def _beat(self, job: Job, execution: Execution, done: threading.Event) -> None:
        while not done.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:
                log.exception("worker.heartbeat_failed", rq_job=job.id, worker=self.name)

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        try:
            reap_abandoned_jobs(worker_services())
        except Exception:
            log.exception("worker.reap_failed")


def run_worker(*, burst: bool = False) -> None:
    """Work on the queue until stopped (SIGTERM: finish the current job, then exit)."""
    os.register_at_fork(after_in_child=tied_to_this_process())  # RQ's scheduler (a fork) dies with this worker
    services = worker_services()
    configure_logging(services.settings.log_level)
    if services.settings.worker_nice:
        os.nice(services.settings.worker_nice)
    reap_abandoned_jobs(services)
    _import_job_functions()
    worker = TandemWorker(
        [services.queue.queue],
        connection=services.queue.connection,
        name=worker_identity(),
        maintenance_interval=services.settings.worker_maintenance_interval_s,
    )
    worker.work(burst=burst, logging_level=services.settings.log_level.upper(), with_scheduler=True)


def _import_job_functions() -> None:
    """Import the functions the queue names now, so that the first job does not wait for the pipeline's
    imports (scikit-learn, the stages: about 1.7 s of CPU)."""
    for reference in (RUN_JOB, DELIVER_WEBHOOK):
        importlib.import_module(reference.rpartition(".")[0])


def reap_abandoned_jobs(services: WorkerServices) -> list[str]:
    """Queue again the unfinished jobs nobody is running; returns their ids."""
    requeued = []
    now = datetime.now(UTC)
    for job in repository.unfinished_jobs(services.database):
        if job.status is JobStatus.RUNNING:
            if job.worker is not None and worker_alive(job.worker, services):
                continue
            if not repository.reset_to_pending(services.database, job.id, job.worker):
                continue  # it moved on meanwhile (finished, or claimed by another worker)
            log.warning("job.abandoned", job_id=job.id, worker=job.worker)
            _forget_started(services, job.id)
        elif now - job.created_at < LOST_MESSAGE_GRACE or _message_queued(services, job.id):
            continue
        services.queue.enqueue_run(job.id)
        requeued.append(job.id)
    return requeued


def _message_queued(services: WorkerServices, job_id: str) -> bool:
    """Whether RQ still holds a live message for the job (one taken by a worker that died before
    claiming the row is not: it is queued again)."""
    try:
        message = Job.fetch(job_id, connection=services.queue.connection)
    except NoSuchJobError:
        return False
    status = message.get_status()
    if status == RqJobStatus.STARTED and message.worker_name and not worker_alive(message.worker_name, services):
        return False
    return status in _QUEUED_STATES


def _forget_started(services: WorkerServices, job_id: str) -> None:
    """Drop the dead run from RQ's started registry, so RQ does not retry it a second time."""
    try:
        job = Job.fetch(job_id, connection=services.queue.connection)
    except NoSuchJobError:
        return
    StartedJobRegistry(queue=services.queue.queue).remove_executions(job)
