"""The Litestar application: routes, shared clients (Triton, Redis) and their lifetimes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import msgspec
import structlog
from litestar import Litestar, MediaType, Response, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from redis.asyncio import Redis

from control_plane.auth.guard import AuthEdge, AuthMiddleware
from control_plane.auth.keys_api import KeysController, create_token
from control_plane.console.routes import console_assets, console_page
from control_plane.elevenlabs.realtime import elevenlabs_realtime
from control_plane.elevenlabs.speech_to_text import SpeechToTextController
from control_plane.live.gateway import SessionSlots, transcription_stream
from control_plane.live.owners import ControlPlaneHeartbeat, beat_and_repair, keep_owning
from control_plane.openai.errors import OpenAIError, openai_error_handler
from control_plane.openai.models import list_models
from control_plane.openai.realtime import openai_realtime
from control_plane.openai.transcriptions import openai_transcriptions, openai_translations
from control_plane.request_ids import request_id_middleware
from control_plane.rest.errors import http_error_handler, internal_error_handler
from control_plane.rest.jobs import JobsController
from control_plane.rest.sessions import SessionsController
from control_plane.rest.speakers import SpeakersController
from core.inference import ALL_MODELS, InferenceClient
from core.jobs.queue import JobQueue
from core.log_config import configure_logging
from core.metrics import render_metrics, scrape_time_gauges
from core.persistence.database import Database
from core.settings import Settings
from core.storage import open_store
from launchers.redis_server import redis_answers

log = structlog.get_logger(__name__)


QUEUE_DEPTH, TRITON_READY = scrape_time_gauges()
READINESS_TIMEOUT_S = 2.0
"""How long ``/metrics`` waits for Triton's readiness answer before reporting it not ready."""


class ReadinessReport(msgspec.Struct):
    ready: bool
    checks: dict[str, bool]


@get(["/health/live", "/health"], sync_to_thread=False)
def health_live() -> dict[str, str]:
    """The process is up (``/health`` too, where Dalston's clients look)."""
    return {"status": "ok"}


@get("/health/ready")
async def health_ready(state: State) -> Response[ReadinessReport]:
    """200 only when Triton, Redis, the database and the store answer (503 with the checks otherwise)."""
    settings: Settings = state.settings
    checks = {
        "triton": await state.inference.models_ready(ALL_MODELS),
        "redis": await anyio.to_thread.run_sync(redis_answers, settings.redis_url),
        "database": await anyio.to_thread.run_sync(_answers, "database", state.database.ping),
        "store": await anyio.to_thread.run_sync(_answers, "store", state.store.ping),
    }
    ready = all(checks.values())
    return Response(ReadinessReport(ready=ready, checks=checks), status_code=200 if ready else 503)


def _answers(name: str, ping: Callable[[], None]) -> bool:
    try:
        ping()
    except Exception:
        log.warning("health.not_ready", check=name, exc_info=True)
        return False
    return True


@get("/metrics", media_type=MediaType.TEXT)
async def metrics(state: State) -> Response[bytes]:
    """Prometheus metrics of the control plane and of the workers sharing its metrics folder."""
    ready = False
    with anyio.move_on_after(READINESS_TIMEOUT_S):  # a hung Triton must not make the scrape time out
        ready = await state.inference.models_ready(ALL_MODELS)
    TRITON_READY.set(ready)
    depth = await anyio.to_thread.run_sync(_queue_depth, state.job_queue)
    if depth is not None:
        QUEUE_DEPTH.set(depth)
    body, content_type = await anyio.to_thread.run_sync(render_metrics)
    return Response(body, media_type=content_type)


def _queue_depth(job_queue: JobQueue) -> int | None:
    """Messages waiting in the queue; ``None`` while Redis does not answer (readiness says so)."""
    try:
        return job_queue.queue.count
    except Exception:
        return None


def create_app(settings: Settings, triton_grpc_url: str) -> Litestar:
    """The control plane, talking to the Triton at ``triton_grpc_url`` (``host:port``)."""
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        database = await anyio.to_thread.run_sync(Database.open, settings.resolved_database_url)
        store = await anyio.to_thread.run_sync(open_store, settings)
        inference = InferenceClient(triton_grpc_url)
        job_queue = JobQueue(settings.redis_url, settings.queue_name, job_timeout_s=settings.job_timeout_s)
        heartbeat = ControlPlaneHeartbeat(settings.redis_url)
        await anyio.to_thread.run_sync(beat_and_repair, heartbeat, database, store, job_queue)
        auth_redis = Redis.from_url(settings.redis_url)
        app.state.update(
            database=database,
            store=store,
            inference=inference,
            job_queue=job_queue,
            heartbeat=heartbeat,
            auth_edge=AuthEdge.create(settings, database, auth_redis),
        )
        app.state.live_models = await inference.live_models()
        app.state.batch_model = await inference.batch_model()
        owning = asyncio.create_task(keep_owning(heartbeat, database, store, job_queue))
        try:
            yield
        finally:
            owning.cancel()
            await asyncio.gather(owning, return_exceptions=True)
            heartbeat.close()
            await auth_redis.aclose()
            await inference.close()
            job_queue.close()
            database.close()

    return Litestar(
        route_handlers=[
            transcription_stream,
            SessionsController,
            JobsController,
            SpeakersController,
            health_live,
            health_ready,
            metrics,
            KeysController,
            create_token,
            console_page,
            console_assets,
            list_models,
            openai_transcriptions,
            openai_translations,
            SpeechToTextController,
            openai_realtime,
            elevenlabs_realtime,
        ],
        middleware=[request_id_middleware, AuthMiddleware()],  # refusals carry a request id too
        lifespan=[lifespan],
        state=State({"settings": settings, "session_slots": SessionSlots(settings.max_sessions)}),
        exception_handlers={
            HTTPException: http_error_handler,
            OpenAIError: openai_error_handler,
            500: internal_error_handler,
        },
        logging_config=None,  # core.log_config already routes every logger
        request_max_body_size=int(settings.max_upload_mb * 1024 * 1024),
    )
