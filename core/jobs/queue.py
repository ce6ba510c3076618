"""The RQ queue between the control plane and the workers; messages carry only a job id.

Work is enqueued by reference (``"pipelines.runner.run_job"``), so the control plane never imports
the pipeline code it does not run. The RQ job id is the SQL job id.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue, Retry

RUN_JOB = "pipelines.runner.run_job"
DELIVER_WEBHOOK = "pipelines.webhooks.deliver_webhook"
WEBHOOK_RETRY_INTERVALS_S = [1, 5, 15, 60, 300]
"""Backoff between webhook delivery attempts (RQ's own retry)."""


class JobQueue:
    """Enqueues job runs and webhook deliveries on the shared Redis."""

    def __init__(self, redis_url: str, queue_name: str, *, job_timeout_s: int = 3600) -> None:
        self.connection = Redis.from_url(redis_url)
        self.queue = Queue(queue_name, connection=self.connection)
        self._job_timeout_s = job_timeout_s

    def enqueue_run(self, job_id: str) -> None:
        """Queue a run of the job; a run that dies with its worker is retried (RQ's abandoned-job retry)."""
        self.queue.enqueue(
            RUN_JOB,
            job_id,
            job_id=job_id,
            job_timeout=self._job_timeout_s,
            retry=Retry(max=2, interval=[5, 30]),
            result_ttl=3600,
            failure_ttl=24 * 3600,
        )

    def enqueue_webhook(self, job_id: str) -> None:
        """Queue the delivery of the job's final status to its ``webhook_url``."""
        self.queue.enqueue(
            DELIVER_WEBHOOK,
            job_id,
            job_timeout=120,
            retry=Retry(max=len(WEBHOOK_RETRY_INTERVALS_S), interval=WEBHOOK_RETRY_INTERVALS_S),
            result_ttl=3600,
            failure_ttl=24 * 3600,
        )

    def close(self) -> None:
        self.connection.close()
