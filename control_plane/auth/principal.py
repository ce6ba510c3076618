"""Who is calling: the tenant and scopes of the key (or token) a request presented."""

from __future__ import annotations

import msgspec
from litestar.connection import ASGIConnection

from core.persistence.api_keys import ApiKeyView
from core.tenancy import DEFAULT_TENANT, Scope


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The caller, as the guard put it on the connection (``connection.user``)."""

    tenant: str
    scopes: frozenset[Scope]
    key_id: str | None = None
    """``None`` while ``TANDEM_AUTH=off``."""
    rate_limit_per_minute: int | None = None

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    @classmethod
    def of_key(cls, key: ApiKeyView) -> Principal:
        scopes = frozenset(key.scopes)
        return cls(tenant=key.tenant, scopes=scopes, key_id=key.id, rate_limit_per_minute=key.rate_limit_per_minute)


OPEN_ACCESS = Principal(tenant=DEFAULT_TENANT, scopes=frozenset(Scope))
"""Everyone while ``TANDEM_AUTH=off``: every scope, the default tenant."""


def principal_of(connection: ASGIConnection) -> Principal:
    """The caller of a request or socket the guard let through."""
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else OPEN_ACCESS


def tenant_of(connection: ASGIConnection) -> str:
    """The tenant whose rows this request may see and make."""
    return principal_of(connection).tenant
