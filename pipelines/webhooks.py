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
from core.metrics import WEBHOOK_DELIVERIES
from core.persistence import jobs as repository
from core.persistence.states import JobStatus
from core.webhook_urls import InvalidWebhookUrl, WebhookTarget, resolve_webhook_target
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
    try:
        allow_private = services.settings.webhook_allow_private
        target = resolve_webhook_target(view.params.webhook_url, allow_private=allow_private)
    except InvalidWebhookUrl as exc:
        WEBHOOK_DELIVERIES.labels(outcome="failed").inc()
        log.warning("webhook.refused", job_id=job_id, reason=str(exc))
        return f"refused: {exc}"
    try:
        response = _post_pinned(target, body, headers, services.settings.webhook_timeout_s)
        response.raise_for_status()  # a redirect too: it is never followed
    except Exception:
        WEBHOOK_DELIVERIES.labels(outcome="failed").inc()
        raise
    WEBHOOK_DELIVERIES.labels(outcome="delivered").inc()
    log.info("webhook.delivered", job_id=job_id, status=response.status_code)
    return f"delivered ({response.status_code})"


def _post_pinned(target: WebhookTarget, body: str, headers: dict[str, str], timeout_s: float) -> httpx.Response:
    """POST to the address that was checked, not to a fresh resolution of the name (DNS rebinding):
    the URL carries the address, ``Host`` and TLS (SNI, certificate) the name."""
    url = httpx.URL(target.url)
    host_header = url.netloc.decode()
    pinned = url.copy_with(host=target.address)
    extensions = {"sni_hostname": target.host} if url.scheme == "https" else {}
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        request = client.build_request(
            "POST", pinned, content=body, headers={**headers, "host": host_header}, extensions=extensions
        )
        return client.send(request)
