"""Sessions REST API over real HTTP: uvicorn, a real SQLite database and a local object store."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import numpy as np
import pytest
import soundfile
import uvicorn
from litestar import Litestar
from litestar.datastructures import State

from control_plane.rest.schemas import ErrorResponse, SessionListResponse, SessionResponse
from control_plane.rest.sessions import SessionsController
from core.audio.recording import AudioRecorder
from core.persistence.database import Database
from core.persistence.sessions import create_session, finalize_session, get_session
from core.persistence.states import SessionStatus
from core.storage import LocalObjectStore
from core.storage.keys import session_audio_key, session_transcript_key

BASE = "/v1/audio/transcriptions/stream"
T0 = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


@dataclass
class Server:
    """The running app's database and store, and an HTTP client pointed at it."""

    database: Database
    store: LocalObjectStore
    client: httpx.Client


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    database = Database.open(f"sqlite:///{tmp_path / 'tandem.db'}")
    store = LocalObjectStore(tmp_path / "objects")
    app = Litestar(route_handlers=[SessionsController], state=State({"database": database, "store": store}))
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uvicorn_server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    port = uvicorn_server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield Server(database, store, client)
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)
        database.close()


def _create(server: Server, session_id: str, created_at: datetime) -> None:
    create_session(
        server.database,
        session_id=session_id,
        params={"language": "en", "store_audio": True, "sample_rate": 8000},
        model="tiny.en",
        language="en",
        sample_rate=8000,
        encoding="pcm_s16le",
        created_at=created_at,
    )


def _finish(server: Server, session_id: str, *, audio_uri: str | None = None) -> None:
    finalize_session(
        server.database,
        session_id,
        status=SessionStatus.COMPLETED,
        ended_at=T0 + timedelta(minutes=5),
        total_audio_seconds=2.0,
        total_duration=2.4,
        utterance_count=1,
        transcript="hello there",
        audio_uri=audio_uri,
        transcript_uri=None,
    )


def _error_code(response: httpx.Response, status_code: int) -> str:
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"].startswith("application/json")
    return msgspec.json.decode(response.content, type=ErrorResponse).error.code


def test_list_paginates_and_filters(server: Server) -> None:
    for i in range(5):
        _create(server, f"sess_{i}", T0 + timedelta(seconds=i))
    _finish(server, "sess_1")
    _finish(server, "sess_3")

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = server.client.get(BASE, params=params)
        assert response.status_code == 200
        assert set(response.json()) == {"sessions", "cursor", "has_more"}
        page = msgspec.json.decode(response.content, type=SessionListResponse)
        seen += [session.id for session in page.sessions]
        if not page.has_more:
            assert page.cursor is None
            break
        cursor = page.cursor
    assert seen == ["sess_4", "sess_3", "sess_2", "sess_1", "sess_0"]

    completed = server.client.get(BASE, params={"status": "completed"}).json()
    assert [session["id"] for session in completed["sessions"]] == ["sess_3", "sess_1"]
    assert completed["has_more"] is False and completed["cursor"] is None
    assert server.client.get(f"{BASE}/").status_code == 200


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": "many"}, {"status": "paused"}, {"cursor": "bogus"}],
)
def test_list_rejects_invalid_parameters(server: Server, params: dict[str, object]) -> None:
    assert _error_code(server.client.get(BASE, params=params), 400) == "invalid_parameters"


def test_get_session_returns_spec_fields(server: Server) -> None:
    _create(server, "sess_a", T0)
    active = server.client.get(f"{BASE}/sess_a")
    assert active.status_code == 200
    body = active.json()
    assert {
        "id", "status", "created_at", "ended_at", "params", "total_audio_seconds", "total_duration",
        "utterance_count", "transcript", "audio_uri", "transcript_uri", "enhancement_job_id",
    } <= set(body)
    assert (body["status"], body["ended_at"], body["audio_uri"]) == ("active", None, None)

    _finish(server, "sess_a", audio_uri="file:///a.wav")
    session = msgspec.json.decode(server.client.get(f"{BASE}/sess_a").content, type=SessionResponse)
    assert session.status is SessionStatus.COMPLETED
    assert session.created_at == T0 and session.ended_at == T0 + timedelta(minutes=5)
    assert (session.transcript, session.total_audio_seconds, session.total_duration) == ("hello there", 2.0, 2.4)
    assert session.params == {"language": "en", "store_audio": True, "sample_rate": 8000}
    assert _error_code(server.client.get(f"{BASE}/sess_nope"), 404) == "session_not_found"


def test_transcript_is_served_when_stored(server: Server) -> None:
    _create(server, "sess_t", T0)
    _finish(server, "sess_t")
    assert _error_code(server.client.get(f"{BASE}/sess_t/transcript"), 404) == "transcript_not_found"
    assert _error_code(server.client.get(f"{BASE}/sess_nope/transcript"), 404) == "session_not_found"

    document = {"session_id": "sess_t", "segments": [{"start": 0.1, "end": 1.2, "text": "hello there"}]}
    server.store.put_bytes(session_transcript_key("sess_t"), json.dumps(document).encode())
    response = server.client.get(f"{BASE}/sess_t/transcript")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == document


def test_audio_is_streamed_as_wav(server: Server) -> None:
    _create(server, "sess_w", T0)
    samples = (np.sin(np.arange(8000 * 3) / 5) * 12000).astype(np.int16)
    recorder = AudioRecorder.start(server.store, "sess_w", 8000)
    for start in range(0, len(samples), 800):
        recorder.write_pcm16(samples[start : start + 800])
    assert _error_code(server.client.get(f"{BASE}/sess_w/audio"), 409) == "session_active"
    _finish(server, "sess_w", audio_uri=recorder.finish())

    response = server.client.get(f"{BASE}/sess_w/audio")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert int(response.headers["content-length"]) == len(response.content) == 44 + 2 * len(samples)
    decoded, rate = soundfile.read(io.BytesIO(response.content), dtype="int16")
    assert rate == 8000
    np.testing.assert_array_equal(decoded, samples)

    _create(server, "sess_silent", T0)
    _finish(server, "sess_silent")
    assert _error_code(server.client.get(f"{BASE}/sess_silent/audio"), 404) == "audio_not_found"
    assert _error_code(server.client.get(f"{BASE}/sess_nope/audio"), 404) == "session_not_found"


def test_delete_removes_record_and_objects(server: Server) -> None:
    _create(server, "sess_d", T0)
    _create(server, "sess_keep", T0)
    for session_id in ("sess_d", "sess_keep"):
        server.store.put_bytes(session_audio_key(session_id), b"RIFF")
        server.store.put_bytes(session_transcript_key(session_id), b"{}")

    assert _error_code(server.client.delete(f"{BASE}/sess_d"), 409) == "session_active"
    assert server.store.exists(session_audio_key("sess_d"))

    _finish(server, "sess_d")
    response = server.client.delete(f"{BASE}/sess_d")
    assert response.status_code == 204 and response.content == b""
    assert get_session(server.database, "sess_d") is None
    assert not (server.store.root / "sessions" / "sess_d").exists()
    assert server.store.exists(session_audio_key("sess_keep"))
    assert get_session(server.database, "sess_keep") is not None
    assert _error_code(server.client.get(f"{BASE}/sess_d"), 404) == "session_not_found"
    assert _error_code(server.client.delete(f"{BASE}/sess_d"), 404) == "session_not_found"
