"""Tenant scoping shared by the repositories: ``tenant=None`` is the trusted, tenant-blind view
(workers, start-up repair); a tenant name sees only its own rows, as if the others did not exist."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.persistence.models import Base

RecordT = TypeVar("RecordT", bound=Base)


def owned_by(query: Select, tenant_column: InstrumentedAttribute, tenant: str | None) -> Select:
    """``query`` limited to ``tenant``'s rows (all rows when ``tenant`` is ``None``)."""
    return query if tenant is None else query.where(tenant_column == tenant)


def get_owned(
    session: Session, model: type[RecordT], row_id: str, tenant: str | None, *, for_update: bool = False
) -> RecordT | None:
    """The row ``row_id`` if ``tenant`` may see it (another tenant's row is ``None``, like a missing one)."""
    record = session.get(model, row_id, with_for_update=for_update)
    if record is None or (tenant is not None and record.tenant != tenant):  # type: ignore[attr-defined]
        return None
    return record
