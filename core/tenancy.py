"""Tenants and the scopes an API key grants: the vocabulary shared by the control plane, the CLI and the workers."""

from __future__ import annotations

import re
from enum import StrEnum

DEFAULT_TENANT = "default"
"""The tenant of everything made while ``TANDEM_AUTH=off`` (the loopback quick start)."""

_TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Scope(StrEnum):
    """What a key may do; ``admin`` grants every other scope too."""

    JOBS_READ = "jobs:read"
    JOBS_WRITE = "jobs:write"
    REALTIME = "realtime"
    SPEAKERS = "speakers"
    ADMIN = "admin"


def parse_scopes(text: str | list[str]) -> list[Scope]:
    """Scopes from ``"jobs:read,realtime"`` or a list; raises ``ValueError`` naming the accepted ones."""
    names = [name.strip() for name in (text.split(",") if isinstance(text, str) else text) if name.strip()]
    if not names:
        raise ValueError(f"at least one scope is needed: {', '.join(scope.value for scope in Scope)}")
    try:
        return sorted({Scope(name) for name in names})
    except ValueError:
        unknown = [name for name in names if name not in Scope._value2member_map_]
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; accepted: {', '.join(Scope)}") from None


def check_tenant_name(name: str) -> str:
    """``name`` if it is a valid tenant name (1-64 letters, digits, ``.``, ``_``, ``-``); ``ValueError`` otherwise."""
    if not _TENANT_NAME.match(name):
        raise ValueError("a tenant name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name
