"""Session repository and migrations against real SQLite and real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from core.persistence.database import Database, upgrade
from core.persistence.pagination import InvalidCursorError
from core.persistence.sessions import (
    SessionActiveError,
    SessionNotFoundError,
    create_session,
    delete_session,
    finalize_session,
    get_session,
    list_sessions,
    mark_active_sessions_interrupted,
)
from core.persistence.states import SessionStatus

T0 = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'tandem.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database.open(database_url)
    yield database
    database.close()


def _create(db: Database, session_id: str, created_at: datetime) -> None:
    create_session(
        db,
        session_id=session_id,
        params={"language": "en", "store_audio": True, "sample_rate": 16000},
        model="tiny.en",
        language="en",
        sample_rate=16000,
        encoding="pcm_s16le",
        created_at=created_at,
    )


def _finish(db: Database, session_id: str, status: SessionStatus = SessionStatus.COMPLETED) -> None:
    finalize_session(
        db,
        session_id,
        status=status,
        ended_at=T0 + timedelta(hours=1),
        total_audio_seconds=1.0,
        total_duration=1.5,
        utterance_count=1,
        transcript="hello",
        audio_uri=None,
        transcript_uri=None,
    )


def test_migrations_create_tables_and_are_idempotent(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)
    engine = create_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert {"realtime_sessions", "jobs", "speakers", "api_keys", "alembic_version"} <= tables
    assert version == "0005"


def test_create_finalize_get_round_trip(db: Database) -> None:
    db.ping()
    created = create_session(
        db,
        params={"language": "en", "interim_results": True, "num_speakers": None},
        model="tiny.en",
        language="en",
        sample_rate=48000,
        encoding="pcm_f32le",
        created_at=T0,
    )
    assert created.id.startswith("sess_") and len(created.id) == 37
    assert created.status is SessionStatus.ACTIVE
    assert get_session(db, created.id) == created

    ended_at = (T0 + timedelta(seconds=90)).astimezone(timezone(timedelta(hours=2)))
    finished = finalize_session(
        db,
        created.id,
        status=SessionStatus.COMPLETED,
        ended_at=ended_at,
        total_audio_seconds=88.25,
        total_duration=90.5,
        utterance_count=7,
        transcript="hello world. bye.",
        audio_uri="file:///x/audio.wav",
        transcript_uri="file:///x/transcript.json",
        enhancement_job_id="job_1",
    )
    stored = get_session(db, created.id)
    assert stored == finished
    assert stored is not None
    assert stored.status is SessionStatus.COMPLETED
    assert stored.created_at == T0 and stored.created_at.tzinfo is UTC
    assert stored.ended_at == ended_at and stored.ended_at is not None and stored.ended_at.tzinfo is UTC
    assert stored.params == {"language": "en", "interim_results": True, "num_speakers": None}
    assert (stored.sample_rate, stored.encoding, stored.utterance_count) == (48000, "pcm_f32le", 7)
    assert (stored.total_audio_seconds, stored.total_duration) == (88.25, 90.5)
    assert (stored.transcript, stored.enhancement_job_id) == ("hello world. bye.", "job_1")
    assert get_session(db, "sess_missing") is None
    with pytest.raises(SessionNotFoundError):
        _finish(db, "sess_missing")


def test_list_paginates_newest_first_across_pages(db: Database) -> None:
    # Seven sessions; three share one created_at, so the id tiebreak is exercised.
    created = {f"sess_{i:02d}": T0 + timedelta(seconds=min(i, 4)) for i in range(7)}
    for session_id, created_at in created.items():
        _create(db, session_id, created_at)
    expected = sorted(created, key=lambda sid: (created[sid], sid), reverse=True)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = list_sessions(db, limit=3, cursor=cursor)
        pages += 1
        seen += [view.id for view in page.sessions]
        if not page.has_more:
            assert page.cursor is None
            break
        assert page.cursor is not None
        cursor = page.cursor
    assert seen == expected
    assert pages == 3

    whole = list_sessions(db, limit=7)
    assert [view.id for view in whole.sessions] == expected
    assert (whole.cursor, whole.has_more) == (None, False)


def test_list_filters_by_status(db: Database) -> None:
    for i in range(5):
        _create(db, f"sess_{i}", T0 + timedelta(seconds=i))
    _finish(db, "sess_1")
    _finish(db, "sess_3")
    _finish(db, "sess_4", SessionStatus.FAILED)

    completed = list_sessions(db, status=SessionStatus.COMPLETED, limit=1)
    assert [view.id for view in completed.sessions] == ["sess_3"]
    assert completed.has_more
    rest = list_sessions(db, status=SessionStatus.COMPLETED, limit=1, cursor=completed.cursor)
    assert [view.id for view in rest.sessions] == ["sess_1"] and not rest.has_more
    active = list_sessions(db, status=SessionStatus.ACTIVE)
    assert [view.id for view in active.sessions] == ["sess_2", "sess_0"]
    assert list_sessions(db, status=SessionStatus.INTERRUPTED).sessions == []


@pytest.mark.parametrize("cursor", ["not-base64!", "bm90IGpzb24", "WzEsMl0", "WyIyMDI2LTExLTI2IiwgIngiXQ"])
def test_list_rejects_foreign_cursors(db: Database, cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        list_sessions(db, cursor=cursor)


def test_delete_refuses_active_then_removes_finished(db: Database) -> None:
    _create(db, "sess_a", T0)
    with pytest.raises(SessionActiveError):
        delete_session(db, "sess_a")
    _finish(db, "sess_a")
    delete_session(db, "sess_a")
    assert get_session(db, "sess_a") is None
    with pytest.raises(SessionNotFoundError):
        delete_session(db, "sess_a")


def test_mark_active_sessions_interrupted(db: Database) -> None:
    _create(db, "sess_live_1", T0)
    _create(db, "sess_live_2", T0 + timedelta(seconds=1))
    _create(db, "sess_done", T0 + timedelta(seconds=2))
    _finish(db, "sess_done")
    repaired_at = T0 + timedelta(days=1)

    assert sorted(mark_active_sessions_interrupted(db, ended_at=repaired_at)) == ["sess_live_1", "sess_live_2"]
    for session_id in ("sess_live_1", "sess_live_2"):
        view = get_session(db, session_id)
        assert view is not None
        assert (view.status, view.ended_at) == (SessionStatus.INTERRUPTED, repaired_at)
    done = get_session(db, "sess_done")
    assert done is not None and done.status is SessionStatus.COMPLETED
    assert mark_active_sessions_interrupted(db) == []
