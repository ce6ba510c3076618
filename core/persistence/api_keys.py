"""Repository of API keys: created with a fresh secret shown once, found again only by its hash."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime

import msgspec
from sqlalchemy import select

from core.persistence.database import Database
from core.persistence.models import ApiKeyRecord
from core.tenancy import Scope, check_tenant_name

KEY_PREFIX = "tk_"


class ApiKeyView(msgspec.Struct, frozen=True, kw_only=True):
    """An API key as listed (never the key itself)."""

    id: str
    tenant: str
    scopes: list[Scope]
    rate_limit_per_minute: int | None
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyNotFoundError(LookupError):
    """No API key has this id."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    db: Database, *, tenant: str, scopes: list[Scope], rate_limit_per_minute: int | None = None
) -> tuple[str, ApiKeyView]:
    """A new key for ``tenant``: the secret ``tk_...`` (shown once, stored only as a hash) and its record."""
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise ValueError("rate_limit_per_minute must be at least 1")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        id=f"key_{uuid.uuid4().hex[:16]}",
        key_hash=hash_key(key),
        key_prefix=key[:10],
        tenant=check_tenant_name(tenant),
        scopes=[Scope(scope).value for scope in scopes],
        rate_limit_per_minute=rate_limit_per_minute,
        created_at=datetime.now(UTC),
        revoked_at=None,
    )
    with db.transaction() as session:
        session.add(record)
        session.flush()
        return key, _view(record)


def find_active_key(db: Database, key: str) -> ApiKeyView | None:
    """The unrevoked key whose secret is ``key``, or ``None``."""
    query = select(ApiKeyRecord).where(ApiKeyRecord.key_hash == hash_key(key), ApiKeyRecord.revoked_at.is_(None))
    with db.transaction() as session:
        record = session.scalars(query).first()
        return None if record is None else _view(record)


def list_api_keys(db: Database) -> list[ApiKeyView]:
    """Every key, revoked ones included, oldest first."""
    with db.transaction() as session:
        records = session.scalars(select(ApiKeyRecord).order_by(ApiKeyRecord.created_at, ApiKeyRecord.id))
        return [_view(record) for record in records]


def revoke_api_key(db: Database, key_id: str) -> ApiKeyView:
    """Revoke the key (it stops working at once); raises :class:`ApiKeyNotFoundError`."""
    with db.transaction() as session:
        record = session.get(ApiKeyRecord, key_id, with_for_update=True)
        if record is None:
            raise ApiKeyNotFoundError(key_id)
        record.revoked_at = record.revoked_at or datetime.now(UTC)
        session.flush()
        return _view(record)


def _view(record: ApiKeyRecord) -> ApiKeyView:
    return msgspec.convert(record, ApiKeyView, from_attributes=True)
