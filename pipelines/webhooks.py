"""Delivers a job's final status to its ``webhook_url``, signed the Standard Webhooks way.

Run by RQ (queued when a job finishes); a failed delivery raises, so RQ retries it with the
backoff of :data:`core.jobs.queue.WEBHOOK_RETRY_INTERVALS_S`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import msgspec
import structlog

from core.jobs.result import JobBody, completed_job_body
from core.persistence import jobs as repository
from core.persistence.states import JobStatus
from pipelines.services import worker_services
from pipelines.webhook_signing import signed_headers, webhook_secret

log = structlog.get_logger(__name__)

EVENT_TYPES = {
    JobStatus.COMPLETED: "transcription.completed",
    JobStatus.FAILED: "transcription.failed",
    JobStatus.CANCELLED: "transcription.cancelled",
}


class WebhookEvent(msgspec.Struct, kw_only=True):
    type: str
    timestamp: datetime
    data: JobBody


def deliver_webhook(job_id: str) -> str:
    """POST the event; raises on a network error or a non-2xx answer (RQ retries)."""
    services = worker_services()
    view = repository.get_job(services.database, job_id)
    if view is None or view.status not in EVENT_TYPES or not view.params.webhook_url:
        return "nothing to deliver"
    event = WebhookEvent(
        type=EVENT_TYPES[view.status], timestamp=datetime.now(UTC), data=completed_job_body(services.store, view)
    )
    body = msgspec.json.encode(event).decode()
    headers = signed_headers(webhook_secret(services.settings), f"msg_{job_id}_{view.status.value}", body)
    response = httpx.post(
        view.params.webhook_url, content=body, headers=headers, timeout=services.settings.webhook_timeout_s
    )
    response.raise_for_status()
    log.info("webhook.delivered", job_id=job_id, status=response.status_code)
    return f"delivered ({response.status_code})"
