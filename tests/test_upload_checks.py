"""Checks at the door: what the server cannot serve is refused before a job exists, and what it
accepts completes (a short clip with a speaker count), on PostgreSQL with a real worker. The batch
model is tiny.en here (an English-only deployment), so that other languages are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy import create_engine, text

from clients.jobs_client import JOBS_PATH as JOBS
from clients.jobs_client import upload, wait_for_status, wav_bytes
from clients.stream_client import stream_url
from launchers.serve_process import ServeProcess
from launchers.worker_processes import WorkerProcess
from tests.conftest import fresh_postgres_schema
from tests.stack_fixtures import start_server, start_worker

MAX_AUDIO_S = 5


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture(scope="module")
def stack(
    english_only_triton, tmp_path_factory, database_url: str
) -> Iterator[tuple[ServeProcess, WorkerProcess]]:
    server = start_server(
        tmp_path_factory.mktemp("checks"), english_only_triton.endpoints,
        TANDEM_DATABASE_URL=database_url, TANDEM_MAX_AUDIO_S=str(MAX_AUDIO_S),
    )
    worker = start_worker(server)
    yield server, worker
    worker.stop()
    server.stop()


def _job_count(server: ServeProcess) -> int:
    return httpx.get(f"{server.http_url}{JOBS}").json()["total"]


def _stored_jobs(server: ServeProcess) -> list[Path]:
    folder = server.data_dir / "objects" / "jobs"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    ("fields", "accepted"),
    [({"language": "fr"}, "'auto', 'en'"), ({"model": "large-v3"}, "'tiny.en'")],
)
def test_a_language_or_model_the_server_cannot_serve_is_refused_naming_the_accepted_values(
    stack, speech, fields: dict[str, str], accepted: str
) -> None:
    server, _ = stack
    before = _job_count(server)
    response = upload(server.http_url, wav_bytes(speech.audio[:16000]), **fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameters" and accepted in error["message"], error
    assert _job_count(server) == before


def test_audio_longer_than_the_limit_is_refused_with_413_naming_it(stack, speech) -> None:
    server, _ = stack
    before = _job_count(server)
    response = upload(server.http_url, wav_bytes(speech.audio[: 16000 * (MAX_AUDIO_S + 2)]))
    assert response.status_code == 413, response.text
    assert f"the limit is {MAX_AUDIO_S} s (TANDEM_MAX_AUDIO_S)" in response.json()["error"]["message"]
    assert _job_count(server) == before


@pytest.mark.parametrize("count_field", ["num_speakers", "min_speakers"])
def test_a_short_clip_with_more_speakers_asked_than_windows_completes(stack, speech, count_field: str) -> None:
    server, worker = stack
    fields = {"speaker_detection": "diarize", "model": "tiny.en", count_field: 5}
    job_id = upload(server.http_url, wav_bytes(speech.audio[:24000]), **fields).json()["id"]
    job = wait_for_status(server.http_url, job_id)
    assert job["status"] == "completed", (job, worker.log()[-3000:])
    assert job["speakers"] and all(segment["speaker"] for segment in job["segments"])


async def test_a_hybrid_session_whose_language_enhancement_cannot_transcribe_is_refused(stack) -> None:
    server, _ = stack
    query = {"model": "base", "language": "fr", "store_audio": True, "enhance_on_end": True}
    async with websockets.connect(stream_url(server.ws_url, query)) as ws:
        error = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert error["type"] == "error" and error["code"] == "invalid_parameters", error
    assert "enhance_on_end" in error["message"] and "'en'" in error["message"]
    assert closed.value.rcvd.code == 4400


def test_an_upload_whose_row_cannot_be_written_leaves_no_object(stack, speech, database_url: str) -> None:
    server, _ = stack
    before = _stored_jobs(server)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE jobs RENAME TO jobs_away"))
    try:
        response = upload(server.http_url, wav_bytes(speech.audio[:16000]))
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE jobs_away RENAME TO jobs"))
        engine.dispose()
    assert response.status_code == 500, response.text
    assert _stored_jobs(server) == before
    assert "job.insert_failed" in server.log()
