"""Per-key request rates and per-tenant live sessions, counted in Redis so every control plane agrees."""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

LIVE_SESSION_TTL_S = 24 * 3600
"""A live-session slot a crashed control plane never released is forgotten after this long."""


class RateLimiter:
    """Fixed one-minute windows: ``INCR`` of the key's counter for the current minute."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def retry_after_s(self, key_id: str, limit_per_minute: int) -> int | None:
        """Count one request; ``None`` if within ``limit_per_minute``, else the seconds until the next window."""
        now = time.time()
        window = int(now // 60)
        counter = f"{self._prefix}:rate:{key_id}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(counter).expire(counter, 120).execute()
        if count <= limit_per_minute:
            return None
        return max(1, int((window + 1) * 60 - now + 0.999))


class LiveSessionSlots:
    """Live sessions a tenant holds at once, across control planes (a sorted set of slot ids by start time)."""

    def __init__(self, redis: Redis, prefix: str, max_per_tenant: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.max_per_tenant = max_per_tenant

    async def acquire(self, tenant: str) -> str | None:
        """A slot id, or ``None`` when ``tenant`` already holds its maximum (``0``: no cap, always a slot)."""
        slot = uuid.uuid4().hex
        if not self.max_per_tenant:
            return slot
        key, now = self._key(tenant), time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now - LIVE_SESSION_TTL_S).zadd(key, {slot: now}).zcard(key)
            pipe.expire(key, LIVE_SESSION_TTL_S)
            _, _, held, _ = await pipe.execute()
        if held > self.max_per_tenant:
            await self._redis.zrem(key, slot)
            return None
        return slot

    async def release(self, tenant: str, slot: str) -> None:
        if self.max_per_tenant:
            await self._redis.zrem(self._key(tenant), slot)

    def _key(self, tenant: str) -> str:
        return f"{self._prefix}:live:{tenant}"
