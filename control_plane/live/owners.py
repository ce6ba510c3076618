"""Which control plane serves a live session, and whether it still runs.

Each control plane (named as :mod:`core.process_identity` says) beats a key in Redis
(``tandem:control_plane:<owner>``, expiring after ``ttl_s``) and records itself as the owner of
every session it opens. The repair of sessions left
``active`` then touches only those whose owner stopped beating, so several control planes can
share one database: one's start (or its periodic repair) never interrupts another's live sessions.
"""

from __future__ import annotations

import anyio
import structlog
from redis import Redis, RedisError

from control_plane.live.archive import repair_unfinished_sessions
from core.jobs.enhancement import enhance_repaired_sessions
from core.jobs.queue import JobQueue
from core.persistence.database import Database
from core.process_identity import gone_from_this_host, new_process_name
from core.storage.base import ObjectStore

log = structlog.get_logger(__name__)

_KEY = "tandem:control_plane:{}"


class ControlPlaneHeartbeat:
    """This control plane's owner name and its heartbeat key in Redis."""

    def __init__(self, redis_url: str, *, ttl_s: float = 30.0) -> None:
        self.owner = new_process_name()
        self.ttl_s = ttl_s
        self._redis = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)

    def beat(self) -> None:
        """Renew the key; call it more often than every ``ttl_s``."""
        self._redis.set(_KEY.format(self.owner), "1", px=int(self.ttl_s * 1000))

    def alive(self, owner: str | None) -> bool:
        """Whether ``owner`` still serves its sessions (a session without one is an orphan)."""
        if owner is None or gone_from_this_host(owner):
            return False
        return owner == self.owner or bool(self._redis.exists(_KEY.format(owner)))

    def close(self) -> None:
        """Stop owning: the key goes at once, so the sessions left behind are repaired without delay."""
        try:
            self._redis.delete(_KEY.format(self.owner))
        finally:
            self._redis.close()


def beat_and_repair(heartbeat: ControlPlaneHeartbeat, database: Database, store: ObjectStore, queue: JobQueue) -> None:
    """One round (blocking): renew this control plane's heartbeat, then repair the sessions of dead
    owners and queue the enhancement those asked for. Without Redis nothing is repaired (whose
    sessions are orphans is unknown then); every error is logged, none raised."""
    try:
        heartbeat.beat()
    except RedisError:
        log.warning("control_plane.heartbeat_failed", owner=heartbeat.owner, exc_info=True)
        return
    try:
        repaired = repair_unfinished_sessions(database, store, heartbeat.alive)
        if repaired:
            enhanced = enhance_repaired_sessions(database, store, queue, repaired)
            log.warning("sessions.repaired", owner=heartbeat.owner, interrupted=repaired, enhancement_jobs=enhanced)
    except Exception:
        log.exception("sessions.repair_failed", owner=heartbeat.owner)


async def keep_owning(
    heartbeat: ControlPlaneHeartbeat, database: Database, store: ObjectStore, queue: JobQueue
) -> None:
    """:func:`beat_and_repair` every third of the heartbeat's lifetime, until cancelled."""
    while True:
        await anyio.sleep(heartbeat.ttl_s / 3)
        await anyio.to_thread.run_sync(beat_and_repair, heartbeat, database, store, queue)
