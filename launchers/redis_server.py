"""Makes sure a Redis answers at the configured URL, starting a private ``redis-server`` if none does."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import redis

from launchers.child_process import stop_process, tied_to_this_process

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class RedisStartError(RuntimeError):
    pass


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


class RedisServer:
    """A ``redis-server`` child process on the URL's loopback port (no persistence to disk)."""

    def __init__(self, url: str, work_dir: Path) -> None:
        parsed = urlparse(url)
        if parsed.hostname not in _LOOPBACK:
            raise RedisStartError(f"no Redis answers at {url}, and only a loopback Redis can be started here")
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisStartError(
                f"no Redis answers at {url} and redis-server is not installed (apt-get install redis-server)"
            )
        self.url = url
        work_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(parsed.port or 6379), "--save", "", "--appendonly", "no",
             "--dir", str(work_dir.resolve())],
            stdout=(work_dir / "redis.log").open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=tied_to_this_process(),
        )
        deadline = time.monotonic() + 10
        while not redis_answers(url):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RedisStartError(f"redis-server did not start; see {work_dir / 'redis.log'}")
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self._process, 10)


def ensure_redis(url: str, work_dir: Path, *, start: bool = True) -> RedisServer | None:
    """``None`` when a Redis already answers; otherwise the server started for ``url``."""
    if redis_answers(url):
        return None
    if not start:
        raise RedisStartError(f"no Redis answers at {url}")
    return RedisServer(url, work_dir)
