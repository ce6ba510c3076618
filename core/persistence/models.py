"""SQLAlchemy declarative models; the schema itself is created by the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Dialect, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from core.tenancy import DEFAULT_TENANT


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are stored as naive
    UTC and marked UTC again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every Tandem table."""


class SessionRecord(Base):
    """One realtime WebSocket session, from ``session.begin`` to its end."""

    __tablename__ = "realtime_sessions"
    __table_args__ = (
        Index("ix_realtime_sessions_created_at_id", "created_at", "id"),
        Index("ix_realtime_sessions_status_created_at_id", "status", "created_at", "id"),
        Index("ix_realtime_sessions_tenant_created_at_id", "tenant", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Every effective session parameter (the ``session.begin`` config)."""
    model: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(32))
    sample_rate: Mapped[int] = mapped_column(Integer)
    encoding: Mapped[str] = mapped_column(String(16))
    total_audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    """Audio received, counted from samples."""
    total_duration: Mapped[float] = mapped_column(Float, default=0.0)
    """Wall-clock seconds from begin to end."""
    utterance_count: Mapped[int] = mapped_column(Integer, default=0)
    transcript: Mapped[str] = mapped_column(Text, default="")
    audio_uri: Mapped[str | None] = mapped_column(String(1024))
    transcript_uri: Mapped[str | None] = mapped_column(String(1024))
    enhancement_job_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(256))
    """The control plane serving the session while it is ``active`` (its heartbeat is in Redis)."""


class JobRecord(Base):
    """A batch transcription or session enhancement job run by the workers."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_created_at_id", "created_at", "id"),
        Index("ix_jobs_status_created_at_id", "status", "created_at", "id"),
        Index("ix_jobs_session_id", "session_id"),
        Index("ix_jobs_tenant_created_at_id", "tenant", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    """``upload`` or ``session``."""
    session_id: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    """Integer percent, 0-100."""
    current_stage: Mapped[str | None] = mapped_column(String(64))
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    input_key: Mapped[str | None] = mapped_column(String(1024))
    """Object key of the audio the job reads (an upload or a session's recording)."""
    warnings: Mapped[list[str] | None] = mapped_column(JSON)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    """Set by ``cancel`` while running; the runner stops at the next stage boundary."""
    worker: Mapped[str | None] = mapped_column(String(256))
    """``host:pid`` of the worker running the job (to find jobs of a worker that died)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class SpeakerRecord(Base):
    """An enrolled speaker: a name and the voiceprint that recognises them."""

    __tablename__ = "speakers"
    __table_args__ = (
        Index("ix_speakers_created_at_id", "created_at", "id"),
        Index("ix_speakers_tenant_created_at_id", "tenant", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default=DEFAULT_TENANT)
    name: Mapped[str] = mapped_column(String(256))
    embedding: Mapped[list[float]] = mapped_column(JSON)
    embedding_model: Mapped[str] = mapped_column(String(128))
    sample_key: Mapped[str | None] = mapped_column(String(1024))
    sample_seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKeyRecord(Base):
    """An API key: its tenant and scopes; the key itself is never stored, only its SHA-256."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """Hex SHA-256 of the key (keys are 256 random bits, so a fast hash is enough)."""
    key_prefix: Mapped[str] = mapped_column(String(16))
    """The key's first characters, to recognise it in a list."""
    tenant: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    """Requests per minute; ``None``: the server's ``TANDEM_RATE_LIMIT_PER_MINUTE``."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
