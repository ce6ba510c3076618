"""Prometheus metrics of Tandem (SPEC "Metrics"), recorded by the control plane and the workers.

Labels are bounded: statuses, error codes, stage names, webhook outcomes, never ids. When
``PROMETHEUS_MULTIPROC_DIR`` is set (see :mod:`core.metrics_files`) every process of a host writes
its samples there and :func:`render_metrics` adds them up, so the control plane's ``/metrics``
also shows the jobs of the workers it shares the folder with.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)

from core.persistence.states import JobStatus, SessionStatus
from core.protocol import ErrorCode

LATENCY_BUCKETS_S = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Live latencies: resolve 0.1–2 s, where the SPEC's 500 ms targets and the 1 s alert sit."""
JOB_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Stage durations, queue waits and session end → enhanced transcript: from tens of ms to an hour."""

LIVE_FIRST_PARTIAL_SECONDS = Histogram(
    "tandem_live_first_partial_seconds",
    "Live: first partial of an utterance, after its speech started arriving",
    buckets=LATENCY_BUCKETS_S,
)
LIVE_FINAL_SECONDS = Histogram(
    "tandem_live_final_seconds",
    "Live: final of an utterance, after its speech ended arriving (VAD silence window included)",
    buckets=LATENCY_BUCKETS_S,
)
ENHANCEMENT_READY_SECONDS = Histogram(
    "tandem_enhancement_ready_seconds",
    "Session end to its enhanced transcript stored",
    buckets=JOB_BUCKETS_S,
)
JOB_STAGE_SECONDS = Histogram(
    "tandem_job_stage_seconds", "Wall time of one job stage (retries included)", ["stage"], buckets=JOB_BUCKETS_S
)
JOB_QUEUE_WAIT_SECONDS = Histogram(
    "tandem_job_queue_wait_seconds", "A job run's wait in the queue before a worker took it", buckets=JOB_BUCKETS_S
)
LIVE_AUDIO_SECONDS = Counter("tandem_live_audio_seconds", "Seconds of audio received by live sessions")
JOB_AUDIO_SECONDS = Counter("tandem_job_audio_seconds", "Seconds of audio of the jobs that completed")
JOBS = Counter("tandem_jobs", "Jobs by final status", ["status"])
LIVE_SESSIONS = Counter("tandem_live_sessions", "Live sessions by final status", ["status"])
ERRORS = Counter(
    "tandem_errors", "Errors answered to clients (WebSocket error messages, HTTP error bodies) by code", ["code"]
)
WEBHOOK_DELIVERIES = Counter(
    "tandem_webhook_deliveries", "Webhook delivery attempts by outcome (delivered, failed)", ["outcome"]
)
LIVE_SESSIONS_ACTIVE = Gauge(
    "tandem_live_sessions_active", "Live sessions currently connected", multiprocess_mode="livesum"
)

FINISHED_JOB_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
ENDED_SESSION_STATUSES = (SessionStatus.COMPLETED, SessionStatus.INTERRUPTED, SessionStatus.FAILED)

# Every bounded label value starts at 0, so ratios and "by code" panels have series before the first event.
for _status in FINISHED_JOB_STATUSES:
    JOBS.labels(status=_status.value)
for _status in ENDED_SESSION_STATUSES:
    LIVE_SESSIONS.labels(status=_status.value)
for _code in ErrorCode:
    ERRORS.labels(code=_code.value)
for _outcome in ("delivered", "failed"):
    WEBHOOK_DELIVERIES.labels(outcome=_outcome)


def scrape_time_gauges() -> tuple[Gauge, Gauge]:
    """``tandem_queue_depth`` and ``tandem_triton_ready``: set by the control plane at each scrape, so
    created by it alone (a worker exposing its own would report an empty queue and a Triton not ready)."""
    queue_depth = Gauge(
        "tandem_queue_depth", "Job runs and webhook deliveries waiting in the queue", multiprocess_mode="livemax"
    )
    triton_ready = Gauge(
        "tandem_triton_ready",
        "1 when Triton and every model Tandem uses are ready (checked at each scrape)",
        multiprocess_mode="livemax",
    )
    return queue_depth, triton_ready


def count_error(code: str) -> None:
    """One error answered to a client (``tandem_errors_total{code}``)."""
    ERRORS.labels(code=code).inc()


def metrics_registry() -> CollectorRegistry:
    """The registry to expose: every process of the shared folder in multiprocess mode, else this process."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    ProcessCollector(registry=registry)  # CPU and memory of the exposing process
    return registry


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type."""
    return generate_latest(metrics_registry()), CONTENT_TYPE_LATEST
