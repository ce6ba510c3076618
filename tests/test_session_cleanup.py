"""What belongs to a session goes with it, and a session gets one enhancement at a time:
PostgreSQL, S3 (moto), a real worker and Triton."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import boto3
import httpx
import numpy as np
import pytest
import websockets

from clients.jobs_client import JOBS_PATH as JOBS
from clients.jobs_client import wait_for_status
from clients.stream_client import StreamResult, encode_audio, stream_audio, stream_url
from core.protocol import AudioEncoding, EndMessage, SessionBegin, SessionEnd, decode_server_message, encode_message
from launchers.serve_process import ServeProcess
from launchers.worker_processes import WorkerProcess
from tests.conftest import fresh_postgres_schema
from tests.stack_fixtures import start_server, start_worker

SESSIONS = "/v1/audio/transcriptions/stream"


@pytest.fixture(scope="module")
def bucket(s3_server: str) -> str:
    return f"tandem-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def stack(triton, tmp_path_factory, s3_server: str, bucket: str) -> Iterator[tuple[ServeProcess, WorkerProcess]]:
    with fresh_postgres_schema() as database_url:
        server = start_server(
            tmp_path_factory.mktemp("cleanup"), triton.endpoints,
            TANDEM_DATABASE_URL=database_url, TANDEM_STORAGE_URL=f"s3://{bucket}", TANDEM_S3_ENDPOINT_URL=s3_server,
            TANDEM_MAX_SESSIONS="1",
        )
        worker = start_worker(server)
        yield server, worker
        worker.stop()
        server.stop()


def _keys(s3_server: str, bucket: str, prefix: str) -> list[str]:
    listing = boto3.client("s3", endpoint_url=s3_server).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


async def _session(server: ServeProcess, audio: np.ndarray, **query: object) -> StreamResult:
    url = stream_url(server.ws_url, {"store_audio": True, "language": "en", **query})
    return await stream_audio(url, encode_audio(audio, AudioEncoding.PCM_S16LE), bytes_per_second=32000, speed=0)


async def test_deleting_a_session_removes_its_enhancement_job_and_the_jobs_objects(
    stack, speech, s3_server: str, bucket: str
) -> None:
    server, worker = stack
    end = (await _session(server, speech.audio[: 16000 * 4], enhance_on_end=True)).session_end
    assert end is not None and end.enhancement_job_id
    job_id = end.enhancement_job_id
    assert wait_for_status(server.http_url, job_id)["status"] == "completed", worker.log()[-3000:]
    assert _keys(s3_server, bucket, f"jobs/{job_id}/")
    response = httpx.delete(f"{server.http_url}{SESSIONS}/{end.session_id}")
    assert response.status_code == 204, response.text
    assert httpx.get(f"{server.http_url}{JOBS}/{job_id}").status_code == 404
    assert _keys(s3_server, bucket, f"jobs/{job_id}/") == []
    assert _keys(s3_server, bucket, f"sessions/{end.session_id}/") == []


async def test_deleting_a_session_while_its_enhancement_runs_stops_the_job_and_leaves_nothing(
    stack, speech, s3_server: str, bucket: str
) -> None:
    server, worker = stack
    end = (await _session(server, np.concatenate([speech.audio] * 3), enhance_on_end=True)).session_end
    job_id = end.enhancement_job_id
    wait_for_status(server.http_url, job_id, {"running", "completed", "failed"})
    assert httpx.delete(f"{server.http_url}{SESSIONS}/{end.session_id}").status_code == 204
    assert httpx.get(f"{server.http_url}{JOBS}/{job_id}").status_code == 404
    deadline = time.monotonic() + 180
    while not any("job.lost" in line and job_id in line for line in worker.log().splitlines()):
        assert time.monotonic() < deadline, worker.log()[-3000:]
        await asyncio.sleep(0.5)
    assert _keys(s3_server, bucket, f"jobs/{job_id}/") == []
    assert _keys(s3_server, bucket, f"sessions/{end.session_id}/") == []


async def test_two_concurrent_enhance_requests_make_one_job_and_one_conflict(stack, speech) -> None:
    server, _ = stack
    end = (await _session(server, speech.audio[: 16000 * 3])).session_end
    url = f"{server.http_url}{SESSIONS}/{end.session_id}/enhance"
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(*(client.post(url) for _ in range(2)))
    assert sorted(response.status_code for response in responses) == [201, 409], [r.text for r in responses]
    created = next(response.json() for response in responses if response.status_code == 201)
    conflict = next(response.json() for response in responses if response.status_code == 409)
    assert conflict["error"]["code"] == "enhancement_unavailable"
    assert wait_for_status(server.http_url, created["enhancement_job_id"])["status"] == "completed"
    jobs = httpx.get(f"{server.http_url}{JOBS}", params={"limit": 100}).json()["jobs"]
    assert [job["id"] for job in jobs if job.get("session_id") == end.session_id] == [created["enhancement_job_id"]]


async def test_an_enhance_wait_socket_frees_its_slot_at_session_end_and_stops_waiting_when_the_client_goes(
    stack, speech
) -> None:
    server, _ = stack  # TANDEM_MAX_SESSIONS=1
    query = {"store_audio": True, "language": "en", "enhance_on_end": True, "enhance_wait": True}
    audio = encode_audio(np.concatenate([speech.audio] * 3), AudioEncoding.PCM_S16LE)
    async with websockets.connect(stream_url(server.ws_url, query)) as waiting:
        for offset in range(0, len(audio), 16000):
            await waiting.send(audio[offset : offset + 16000])
        await waiting.send(encode_message(EndMessage()))
        while not isinstance(end := decode_server_message(await waiting.recv()), SessionEnd):
            pass
        async with websockets.connect(stream_url(server.ws_url, {})) as other:  # the one slot is free again
            assert isinstance(decode_server_message(await other.recv()), SessionBegin)
            await other.send(encode_message(EndMessage()))
            while not isinstance(decode_server_message(await other.recv()), SessionEnd):
                pass
        job = httpx.get(f"{server.http_url}{JOBS}/{end.enhancement_job_id}").json()
        assert job["status"] in ("pending", "running"), job
    deadline = time.monotonic() + 60
    while not any(
        "session.enhancement_wait_ended" in line and end.session_id in line for line in server.log().splitlines()
    ):
        assert time.monotonic() < deadline, server.log_tail()
        await asyncio.sleep(0.5)
    assert wait_for_status(server.http_url, end.enhancement_job_id)["status"] == "completed"  # the job runs on
