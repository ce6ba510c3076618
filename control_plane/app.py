"""The Litestar application: routes, shared clients (Triton, Redis) and their lifetimes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import msgspec
import prometheus_client
from litestar import Litestar, MediaType, Response, get
from litestar.datastructures import State

from control_plane.gateway import transcription_stream
from control_plane.inference import InferenceClient
from control_plane.log_config import configure_logging
from control_plane.redis_server import redis_answers
from control_plane.settings import Settings


class ReadinessReport(msgspec.Struct):
    ready: bool
    checks: dict[str, bool]


@get("/health/live", sync_to_thread=False)
def health_live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get("/health/ready")
async def health_ready(state: State) -> Response[ReadinessReport]:
    """200 only when Triton and Redis answer (503 with the failing checks otherwise)."""
    settings: Settings = state.settings
    checks = {
        "triton": await state.inference.ready(),
        "redis": await anyio.to_thread.run_sync(redis_answers, settings.redis_url),
    }
    ready = all(checks.values())
    return Response(ReadinessReport(ready=ready, checks=checks), status_code=200 if ready else 503)


@get("/metrics", media_type=MediaType.TEXT, sync_to_thread=False)
def metrics() -> Response[bytes]:
    """Prometheus metrics."""
    return Response(prometheus_client.generate_latest(), media_type=prometheus_client.CONTENT_TYPE_LATEST)


def create_app(settings: Settings, triton_grpc_url: str) -> Litestar:
    """The control plane, talking to the Triton at ``triton_grpc_url`` (``host:port``)."""
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        inference = InferenceClient(triton_grpc_url)
        app.state.inference = inference
        app.state.model_name = await inference.streaming_model_name()
        try:
            yield
        finally:
            await inference.close()

    return Litestar(
        route_handlers=[transcription_stream, health_live, health_ready, metrics],
        lifespan=[lifespan],
        state=State({"settings": settings}),
    )
