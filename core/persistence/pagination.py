"""Keyset pagination cursors over ``(created_at, id)``, newest first, shared by every list."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute


class _Row(Protocol):
    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> str: ...


RowT = TypeVar("RowT", bound=_Row)


class InvalidCursorError(ValueError):
    """A pagination cursor this server did not issue."""


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at_text, row_id = json.loads(raw)
        created_at = datetime.fromisoformat(created_at_text)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursorError(f"invalid cursor {cursor!r}") from exc
    if created_at.tzinfo is None or not isinstance(row_id, str):
        raise InvalidCursorError(f"invalid cursor {cursor!r}")
    return created_at, row_id


def newest_first(
    query: Select, created_at: InstrumentedAttribute, row_id: InstrumentedAttribute, *, limit: int, cursor: str | None
) -> Select:
    """``query`` ordered newest first, after ``cursor``, with one row more than ``limit`` (to see if more follow)."""
    if limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    if cursor is not None:
        after_created_at, after_id = decode_cursor(cursor)
        query = query.where(
            or_(created_at < after_created_at, and_(created_at == after_created_at, row_id < after_id))
        )
    return query.order_by(created_at.desc(), row_id.desc()).limit(limit + 1)


def page_of(rows: list[RowT], limit: int) -> tuple[list[RowT], str | None, bool]:
    """The first ``limit`` of ``rows`` fetched by :func:`newest_first` (one more than ``limit``), the cursor
    of the next page (``None`` on the last) and whether more follow."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].created_at, rows[-1].id) if has_more else None, has_more
