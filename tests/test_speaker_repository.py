"""The enrolled-speaker repository on SQLite and PostgreSQL: round trip, order, voiceprints, delete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.persistence import speakers as repository
from core.persistence.database import Database
from core.tenancy import DEFAULT_TENANT


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    sqlite = request.param == "sqlite"
    url = f"sqlite:///{tmp_path / 'tandem.db'}" if sqlite else request.getfixturevalue("postgres_url")
    database = Database.open(url)
    yield database
    database.close()


def test_speakers_round_trip_in_enrollment_order(db: Database) -> None:
    embedding = [0.6, 0.8, 0.0]
    created = [
        repository.create_speaker(
            db,
            speaker_id=repository.new_speaker_id(),
            name=name,
            embedding=embedding,
            embedding_model="campplus:package:triton_models.speaker_embedding",
            sample_key=None,
            sample_seconds=4.5,
        )
        for name in ("Oliver", "Priya")
    ]
    assert repository.list_speakers(db) == created
    assert repository.get_speaker(db, created[1].id) == created[1]
    assert created[0].created_at.tzinfo is not None
    prints = repository.voiceprints(db, tenant=DEFAULT_TENANT)
    assert [(p.name, p.embedding) for p in prints] == [("Oliver", embedding), ("Priya", embedding)]

    repository.delete_speaker(db, created[0].id)
    assert repository.get_speaker(db, created[0].id) is None
    with pytest.raises(repository.SpeakerNotFoundError):
        repository.delete_speaker(db, created[0].id)
    assert [p.name for p in repository.voiceprints(db, tenant=DEFAULT_TENANT)] == ["Priya"]


def test_voiceprints_and_speakers_stay_inside_their_tenant(db: Database) -> None:
    """Matching reads only the job's tenant's voiceprints; another tenant cannot see or delete a speaker."""
    enrolled = {
        tenant: repository.create_speaker(
            db,
            tenant=tenant,
            speaker_id=repository.new_speaker_id(),
            name=name,
            embedding=[1.0, 0.0],
            embedding_model="m",
            sample_key=None,
            sample_seconds=3.0,
        )
        for tenant, name in (("acme", "Oliver"), ("globex", "Priya"))
    }
    assert [p.name for p in repository.voiceprints(db, tenant="acme")] == ["Oliver"]
    assert [p.name for p in repository.voiceprints(db, tenant="globex")] == ["Priya"]
    assert repository.voiceprints(db, tenant=DEFAULT_TENANT) == []
    assert repository.list_speakers(db, tenant="acme") == [enrolled["acme"]]
    assert repository.get_speaker(db, enrolled["acme"].id, tenant="globex") is None
    with pytest.raises(repository.SpeakerNotFoundError):
        repository.delete_speaker(db, enrolled["acme"].id, tenant="globex")
    assert repository.get_speaker(db, enrolled["acme"].id, tenant="acme") == enrolled["acme"]
