"""Repository of enrolled speakers (name + voiceprint); returns plain structs, never ORM objects."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
from sqlalchemy import select

from core.persistence.database import Database
from core.persistence.models import SpeakerRecord
from core.persistence.tenant_filter import get_owned, owned_by
from core.tenancy import DEFAULT_TENANT


class SpeakerView(msgspec.Struct, frozen=True, kw_only=True):
    """An enrolled speaker as the API shows it (the voiceprint itself stays inside)."""

    id: str
    name: str
    embedding_model: str
    """The speaker-embedding model the voiceprint came from (``speaker_embedding/<architecture>``)."""
    sample_seconds: float
    """Seconds of speech in the enrollment sample."""
    created_at: datetime


class EnrolledVoiceprint(msgspec.Struct, frozen=True):
    """What matching needs: the name and the L2-normalised embedding."""

    name: str
    embedding: list[float]
    embedding_model: str


class SpeakerNotFoundError(LookupError):
    """No enrolled speaker has this id."""


def new_speaker_id() -> str:
    return f"spk_{uuid.uuid4().hex}"


def create_speaker(
    db: Database,
    *,
    speaker_id: str,
    name: str,
    embedding: list[float],
    embedding_model: str,
    sample_key: str | None,
    sample_seconds: float,
    tenant: str = DEFAULT_TENANT,
) -> SpeakerView:
    record = SpeakerRecord(
        id=speaker_id,
        tenant=tenant,
        name=name,
        embedding=embedding,
        embedding_model=embedding_model,
        sample_key=sample_key,
        sample_seconds=sample_seconds,
        created_at=datetime.now(UTC),
    )
    with db.transaction() as session:
        session.add(record)
        session.flush()
        return _view(record)


def get_speaker(db: Database, speaker_id: str, *, tenant: str | None = None) -> SpeakerView | None:
    """The speaker with this id, or ``None`` (also when enrolled by another ``tenant``)."""
    with db.transaction() as session:
        record = get_owned(session, SpeakerRecord, speaker_id, tenant)
        return None if record is None else _view(record)


def list_speakers(db: Database, *, tenant: str | None = None) -> list[SpeakerView]:
    """Every speaker ``tenant`` enrolled, oldest first."""
    query = owned_by(select(SpeakerRecord), SpeakerRecord.tenant, tenant)
    with db.transaction() as session:
        records = session.scalars(query.order_by(SpeakerRecord.created_at, SpeakerRecord.id))
        return [_view(record) for record in records]


def voiceprints(db: Database, *, tenant: str) -> list[EnrolledVoiceprint]:
    """Every name ``tenant`` enrolled with its voiceprint, oldest first (voices never match across tenants)."""
    query = select(SpeakerRecord.name, SpeakerRecord.embedding, SpeakerRecord.embedding_model).where(
        SpeakerRecord.tenant == tenant
    )
    with db.transaction() as session:
        rows = session.execute(query.order_by(SpeakerRecord.created_at, SpeakerRecord.id))
        return [EnrolledVoiceprint(name, list(embedding), model) for name, embedding, model in rows]


def delete_speaker(db: Database, speaker_id: str, *, tenant: str | None = None) -> None:
    """Remove the speaker's row; raises :class:`SpeakerNotFoundError` (also for another ``tenant``'s)."""
    with db.transaction() as session:
        record = get_owned(session, SpeakerRecord, speaker_id, tenant, for_update=True)
        if record is None:
            raise SpeakerNotFoundError(speaker_id)
        session.delete(record)


def _view(record: SpeakerRecord) -> SpeakerView:
    return SpeakerView(
        id=record.id,
        name=record.name,
        embedding_model=record.embedding_model,
        sample_seconds=record.sample_seconds,
        created_at=record.created_at,
    )
