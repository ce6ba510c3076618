"""Which scope each route needs: the open list is explicit, everything else needs a key.

New front doors are protected the moment they are mounted: a WebSocket needs ``realtime``,
``/v1/speakers`` ``speakers``, ``/v1/keys`` ``admin``, reads ``jobs:read`` and writes ``jobs:write``.
"""

from __future__ import annotations

from enum import Enum

from core.tenancy import Scope

OPEN_PATH_PREFIXES = ("/health", "/schema")
"""Liveness/readiness and the OpenAPI schema (and its UIs)."""
CONSOLE_PATHS = ("/", "/index.html", "/favicon.ico")
CONSOLE_PATH_PREFIXES = ("/console", "/static", "/assets")
"""The browser console's static files: the page asks for a key itself."""
METRICS_PATH = "/metrics"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Access(Enum):
    OPEN = "open"
    LOOPBACK_OR_ADMIN = "loopback_or_admin"


def required_access(method: str, path: str, *, websocket: bool) -> Access | Scope:
    """What a request for ``method path`` needs: nothing, a loopback client (``/metrics``), or a scope."""
    path = path.rstrip("/") or "/"
    if _is_open(method, path, websocket):
        return Access.OPEN
    if path == METRICS_PATH:
        return Access.LOOPBACK_OR_ADMIN
    if _under(path, "/v1/keys"):
        return Scope.ADMIN
    if websocket or _under(path, "/v1/tokens") or _under(path, "/v1/realtime"):
        return Scope.REALTIME
    if _under(path, "/v1/speakers"):
        return Scope.SPEAKERS
    return Scope.JOBS_READ if method in _READ_METHODS else Scope.JOBS_WRITE


def _is_open(method: str, path: str, websocket: bool) -> bool:
    if any(_under(path, prefix) for prefix in OPEN_PATH_PREFIXES):
        return True
    static = path in CONSOLE_PATHS or any(_under(path, prefix) for prefix in CONSOLE_PATH_PREFIXES)
    return static and not websocket and method in _READ_METHODS


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")
