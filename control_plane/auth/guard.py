"""The guard in front of every route: finds the caller's key, checks its scope and rate, and refuses
the rest (HTTP 401/403/429 JSON, or on a WebSocket an ``error`` message then close 4401/4403/4429).

It is app-level middleware, so a route mounted later is guarded without doing anything;
:mod:`control_plane.auth.routes` says which routes are open and which scope the others need.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

import anyio
import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio import Redis

from control_plane.auth.limits import LiveSessionSlots, RateLimiter
from control_plane.auth.loopback import is_loopback
from control_plane.auth.principal import OPEN_ACCESS, Principal
from control_plane.auth.routes import Access, required_access
from control_plane.auth.tokens import TOKEN_PREFIX, TokenStore
from core.persistence.api_keys import find_active_key
from core.persistence.database import Database
from core.protocol import CloseCode, ErrorCode, ErrorMessage, encode_message
from core.settings import AuthMode, Settings
from core.tenancy import Scope as KeyScope

ANONYMOUS = Principal(tenant="", scopes=frozenset())
"""The caller of an open route while keys are on: no scope, a tenant that owns nothing."""


@dataclass(frozen=True)
class Refusal:
    status_code: int
    code: ErrorCode
    message: str
    close_code: int
    retry_after_s: int | None = None


@dataclass
class AuthEdge:
    """What the guard needs, made by the app's lifespan: the settings, the keys' database, the Redis counters."""

    settings: Settings
    database: Database
    rate_limiter: RateLimiter
    live_slots: LiveSessionSlots
    tokens: TokenStore

    @classmethod
    def create(cls, settings: Settings, database: Database, redis: Redis) -> AuthEdge:
        """The edge on ``redis`` (counters and tokens under one prefix per deployment's queue)."""
        prefix = f"tandem-auth:{settings.queue_name}"
        return cls(
            settings=settings,
            database=database,
            rate_limiter=RateLimiter(redis, prefix),
            live_slots=LiveSessionSlots(redis, prefix, settings.tenant_max_sessions),
            tokens=TokenStore(redis, prefix),
        )

    async def admit(self, scope: Scope) -> Principal | Refusal:
        """The caller of ``scope``, or why it is refused."""
        websocket = scope["type"] == ScopeType.WEBSOCKET
        access = required_access(scope.get("method", "GET"), scope["path"], websocket=websocket)
        if self.settings.auth is AuthMode.OFF:
            return OPEN_ACCESS
        if access is Access.OPEN:
            return ANONYMOUS
        client = scope.get("client")
        if access is Access.LOOPBACK_OR_ADMIN and client and is_loopback(client[0]):
            return ANONYMOUS
        principal = await self._principal(scope, websocket)
        if principal is None:
            return Refusal(401, ErrorCode.UNAUTHORIZED, "a valid API key is required", CloseCode.UNAUTHORIZED)
        needed = KeyScope.ADMIN if access is Access.LOOPBACK_OR_ADMIN else access
        if not principal.allows(needed):
            return Refusal(403, ErrorCode.FORBIDDEN, f"this key lacks the `{needed}` scope", CloseCode.FORBIDDEN)
        limit = principal.rate_limit_per_minute or self.settings.rate_limit_per_minute
        if limit and principal.key_id:
            retry_after_s = await self.rate_limiter.retry_after_s(principal.key_id, limit)
            if retry_after_s is not None:
                message = f"more than {limit} requests per minute; retry in {retry_after_s} s"
                return Refusal(429, ErrorCode.RATE_LIMITED, message, CloseCode.RATE_LIMITED, retry_after_s)
        return principal

    async def _principal(self, scope: Scope, websocket: bool) -> Principal | None:
        credential = _credential(scope, websocket)
        if not credential:
            return None
        if credential.startswith(TOKEN_PREFIX):
            return await self.tokens.redeem(credential) if websocket else None
        key = await anyio.to_thread.run_sync(find_active_key, self.database, credential)
        return None if key is None else Principal.of_key(key)


class AuthMiddleware(ASGIMiddleware):
    """Puts the caller's :class:`Principal` in ``scope["user"]``, or answers the refusal itself."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        edge: AuthEdge = scope["litestar_app"].state.auth_edge
        decision = await edge.admit(scope)
        websocket = scope["type"] == ScopeType.WEBSOCKET
        if isinstance(decision, Refusal):
            await (_refuse_socket if websocket else _refuse_request)(decision, receive, send)
            return
        scope["user"] = decision
        if not websocket or not decision.tenant:
            await next_app(scope, receive, send)
            return
        slot = await edge.live_slots.acquire(decision.tenant)
        if slot is None:
            message = f"tenant {decision.tenant} already holds {edge.live_slots.max_per_tenant} live sessions"
            await _refuse_socket(Refusal(503, ErrorCode.CAPACITY, message, CloseCode.CAPACITY), receive, send)
            return
        try:
            await next_app(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await edge.live_slots.release(decision.tenant, slot)


def _credential(scope: Scope, websocket: bool) -> str | None:
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    if headers.get("xi-api-key"):
        return headers["xi-api-key"].strip()
    if websocket:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        for name in ("api_key", "token"):
            if query.get(name):
                return query[name][0].strip()
    return None


async def _refuse_request(refusal: Refusal, _receive: Receive, send: Send) -> None:
    body = msgspec.json.encode(
        {
            "error": {"code": refusal.code, "message": refusal.message, "type": refusal.code, "param": None},
            "detail": refusal.message,
        }
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if refusal.status_code == 401:
        headers.append((b"www-authenticate", b'Bearer realm="tandem"'))
    if refusal.retry_after_s is not None:
        headers.append((b"retry-after", str(refusal.retry_after_s).encode()))
    await send({"type": "http.response.start", "status": refusal.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse_socket(refusal: Refusal, receive: Receive, send: Send) -> None:
    """Accept, say why in an ``error`` message, close with the refusal's code."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    error = ErrorMessage(code=refusal.code, message=refusal.message, recoverable=False)
    await send({"type": "websocket.send", "text": encode_message(error)})
    await send({"type": "websocket.close", "code": refusal.close_code, "reason": refusal.code.value})
