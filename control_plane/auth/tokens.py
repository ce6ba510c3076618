"""Short-lived, single-use WebSocket tokens (``POST /v1/tokens``): a browser cannot set headers on a socket."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import msgspec
from redis.asyncio import Redis

from control_plane.auth.principal import Principal

TOKEN_TTL_S = 60
TOKEN_PREFIX = "wst_"


class IssuedToken(msgspec.Struct, frozen=True):
    token: str
    expires_at: datetime


class TokenStore:
    """Tokens in Redis, each standing for the principal that asked for it; redeemed at most once."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def issue(self, principal: Principal) -> IssuedToken:
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        await self._redis.set(self._key(token), msgspec.json.encode(principal), ex=TOKEN_TTL_S)
        return IssuedToken(token, datetime.now(UTC) + timedelta(seconds=TOKEN_TTL_S))

    async def redeem(self, token: str) -> Principal | None:
        """The token's principal, once: a used, expired or unknown token is ``None``."""
        raw = await self._redis.getdel(self._key(token))
        return None if raw is None else msgspec.json.decode(raw, type=Principal)

    def _key(self, token: str) -> str:
        return f"{self._prefix}:token:{token}"
