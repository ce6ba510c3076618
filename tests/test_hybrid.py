"""Hybrid mode: a live session ends into an enhancement job, linked both ways, pushed on the socket."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets

from benchmarks.speech import word_error_rate
from clients.jobs_client import JOBS_PATH as JOBS
from clients.jobs_client import wait_for_status
from clients.stream_client import StreamResult, encode_audio, stream_audio, stream_url
from core.jobs.enhancement import first_enhancement_job_id
from core.protocol import (
    AudioEncoding,
    CloseCode,
    EnhancementCompleted,
    EnhancementProgress,
    ErrorCode,
    ErrorMessage,
    FlushMessage,
    SessionBegin,
    SessionEnd,
    TranscriptFinal,
    decode_server_message,
    encode_message,
)
from launchers.redis_server import RedisServer
from launchers.serve_process import ServeProcess
from launchers.triton_server import free_port
from tests.conftest import fresh_postgres_schema
from tests.stack_fixtures import start_server, start_worker

SESSIONS = "/v1/audio/transcriptions/stream"


@pytest.fixture(scope="module")
def hybrid_server(triton, tmp_path_factory) -> Iterator[ServeProcess]:
    server = start_server(tmp_path_factory.mktemp("hybrid"), triton.endpoints)
    worker = start_worker(server)
    yield server
    worker.stop()
    server.stop()


async def _stream(server: ServeProcess, audio: np.ndarray, *, speed: float = 0.0, send_end: bool = True,
                  **query) -> StreamResult:
    url = stream_url(server.ws_url, {"encoding": "pcm_s16le", "sample_rate": 16000, **query})
    return await stream_audio(
        url, encode_audio(audio, AudioEncoding.PCM_S16LE), bytes_per_second=32000, speed=speed, send_end=send_end,
        reply_timeout_s=300,
    )


def _get(server: ServeProcess, path: str) -> dict:
    response = httpx.get(f"{server.http_url}{path}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


async def test_live_session_ends_into_a_better_speaker_labelled_transcript(hybrid_server, speech) -> None:
    result = await _stream(
        hybrid_server, speech.audio, speed=1.0, store_audio=True, enhance_on_end=True, enhance_wait=True,
        num_speakers=2, word_timestamps=True,
    )
    begin = result.of_type(SessionBegin)[0]
    assert begin.config.enhance_on_end and begin.config.enhance_wait and begin.config.num_speakers == 2
    end = result.session_end
    assert end is not None and end.enhancement_job_id == first_enhancement_job_id(end.session_id)
    uuid.UUID(end.enhancement_job_id)
    kinds = [type(m.message) for m in result.messages]
    assert kinds.index(SessionEnd) < kinds.index(EnhancementProgress) < kinds.index(EnhancementCompleted)
    assert kinds[-1] is EnhancementCompleted and result.close_code == CloseCode.NORMAL
    assert not result.of_type(ErrorMessage)
    progress = [m.progress for m in result.of_type(EnhancementProgress)]
    assert progress == sorted(progress)

    enhanced = result.of_type(EnhancementCompleted)[0].transcript
    live_text = " ".join(final.text for final in result.of_type(TranscriptFinal))
    live_wer, enhanced_wer = word_error_rate(speech.text, live_text), word_error_rate(speech.text, enhanced.text)
    assert enhanced_wer <= live_wer and enhanced_wer <= 0.1, (live_wer, enhanced_wer)
    assert [speaker.id for speaker in enhanced.speakers] == ["SPEAKER_00", "SPEAKER_01"]
    spoken_by = [segment.speaker for segment in enhanced.segments]
    assert spoken_by == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00", "SPEAKER_01"]  # the lines alternate voices
    assert all(word.speaker and word.text == word.word for word in enhanced.words)

    # Linked both ways, and served over REST.
    session = _get(hybrid_server, f"{SESSIONS}/{end.session_id}")
    assert session["enhancement_job_id"] == end.enhancement_job_id
    enhancement = _get(hybrid_server, f"{SESSIONS}/{end.session_id}/enhancement")
    assert enhancement["status"] == "completed" and enhancement["enhancement_job_id"] == end.enhancement_job_id
    assert enhancement["transcript"]["text"] == enhanced.text
    job = _get(hybrid_server, f"{JOBS}/{end.enhancement_job_id}")
    assert job["source"] == "session" and job["session_id"] == end.session_id
    assert job["params"]["speaker_detection"] == "diarize" and job["params"]["word_timestamps"] is True
    assert "diarize" in [stage["name"] for stage in job["stages"]]


async def test_without_enhance_wait_the_socket_closes_at_session_end(hybrid_server, speech) -> None:
    result = await _stream(hybrid_server, speech.audio[: 16000 * 6], store_audio=True, enhance_on_end=True)
    assert isinstance(result.messages[-1].message, SessionEnd) and result.close_code == CloseCode.NORMAL
    end = result.session_end
    assert _get(hybrid_server, f"{SESSIONS}/{end.session_id}/enhancement")["status"] in ("pending", "running",
                                                                                         "completed")
    job = wait_for_status(hybrid_server.http_url, end.enhancement_job_id)
    assert job["status"] == "completed" and job["text"]


async def test_a_disconnected_session_is_enhanced_from_what_was_recorded(hybrid_server, speech) -> None:
    url = stream_url(hybrid_server.ws_url, {"store_audio": True, "enhance_on_end": True})
    audio = encode_audio(speech.audio[: 16000 * 8], AudioEncoding.PCM_S16LE)
    async with websockets.connect(url) as socket:
        begin = decode_server_message(await socket.recv())
        for offset in range(0, len(audio), 3200):
            await socket.send(audio[offset : offset + 3200])
        await socket.send(encode_message(FlushMessage()))
        while not isinstance(decode_server_message(await socket.recv()), TranscriptFinal):
            pass
    # closed without `end`
    job = wait_for_status(hybrid_server.http_url, first_enhancement_job_id(begin.session_id))
    assert job["status"] == "completed" and job["session_id"] == begin.session_id
    assert _get(hybrid_server, f"{SESSIONS}/{begin.session_id}")["status"] == "interrupted"


@pytest.mark.parametrize(
    "query",
    [{"store_audio": True, "enhance_wait": True}, {"store_audio": True, "enhance_on_end": True, "num_speakers": 0}],
    ids=["wait-without-enhance", "zero-speakers"],
)
async def test_invalid_enhancement_parameters_are_refused(hybrid_server, query) -> None:
    async with websockets.connect(stream_url(hybrid_server.ws_url, query)) as socket:
        message = decode_server_message(await socket.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()
    assert isinstance(message, ErrorMessage) and message.code == ErrorCode.INVALID_PARAMETERS
    assert socket.close_code == CloseCode.INVALID_PARAMETERS


async def test_enhance_an_earlier_session_on_request(hybrid_server, speech) -> None:
    recorded = (await _stream(hybrid_server, speech.audio[: 16000 * 5], store_audio=True)).session_end
    unrecorded = (await _stream(hybrid_server, speech.audio[: 16000 * 2])).session_end
    assert _get(hybrid_server, f"{SESSIONS}/{recorded.session_id}/enhancement") == {
        "session_id": recorded.session_id, "enhancement_job_id": None, "status": "not_requested",
        "transcript": None, "error": None,
    }
    started = httpx.post(f"{hybrid_server.http_url}{SESSIONS}/{recorded.session_id}/enhance")
    assert started.status_code == 201 and started.json()["status"] in ("pending", "running", "completed")
    again = httpx.post(f"{hybrid_server.http_url}{SESSIONS}/{recorded.session_id}/enhance")
    assert again.status_code == 409 and again.json()["error"]["code"] == "enhancement_unavailable"
    no_audio = httpx.post(f"{hybrid_server.http_url}{SESSIONS}/{unrecorded.session_id}/enhance")
    assert no_audio.status_code == 409
    missing = httpx.post(f"{hybrid_server.http_url}{SESSIONS}/sess_{uuid.uuid4().hex}/enhance")
    assert missing.status_code == 404
    job = wait_for_status(hybrid_server.http_url, started.json()["enhancement_job_id"])
    assert job["status"] == "completed"


async def test_a_queue_failure_keeps_the_session_and_the_job_can_be_asked_again(triton, tmp_path: Path,
                                                                                speech) -> None:
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    redis_server = RedisServer(redis_url, tmp_path / "redis")
    server = start_server(tmp_path / "server", triton.endpoints, TANDEM_REDIS_URL=redis_url,
                          TANDEM_START_REDIS="false")
    try:
        url = stream_url(server.ws_url, {"store_audio": True, "enhance_on_end": True})
        audio = encode_audio(speech.audio[: 16000 * 4], AudioEncoding.PCM_S16LE)
        streaming = asyncio.create_task(stream_audio(url, audio, bytes_per_second=32000, speed=2.0))
        await asyncio.sleep(0.5)
        redis_server.stop()  # the queue goes away before the session ends
        result = await streaming
        end = result.session_end
        assert end is not None and end.enhancement_job_id
        errors = result.of_type(ErrorMessage)
        assert [error.code for error in errors] == [ErrorCode.ENHANCEMENT_FAILED]
        session = _get(server, f"{SESSIONS}/{end.session_id}")
        assert session["status"] == "completed" and session["audio_uri"]
        enhancement = _get(server, f"{SESSIONS}/{end.session_id}/enhancement")
        assert enhancement["status"] == "failed" and "queued" in enhancement["error"]

        redis_server = RedisServer(redis_url, tmp_path / "redis")
        worker = start_worker(server)
        try:
            retried = httpx.post(f"{server.http_url}{SESSIONS}/{end.session_id}/enhance")
            assert retried.status_code == 201, retried.text
            job_id = retried.json()["enhancement_job_id"]
            assert job_id != end.enhancement_job_id
            assert wait_for_status(server.http_url, job_id)["status"] == "completed"
        finally:
            worker.stop()
    finally:
        server.stop()
        redis_server.stop()


async def test_a_killed_server_enhances_the_session_when_restarted(triton, tmp_path: Path, speech) -> None:
    server = start_server(tmp_path / "server", triton.endpoints)
    url = stream_url(server.ws_url, {"store_audio": True, "enhance_on_end": True})
    audio = encode_audio(speech.audio, AudioEncoding.PCM_S16LE)
    with pytest.raises(websockets.ConnectionClosed):
        async with websockets.connect(url) as socket:
            session_id = decode_server_message(await socket.recv()).session_id
            for offset in range(0, len(audio) // 2, 3200):
                await socket.send(audio[offset : offset + 3200])
            await asyncio.sleep(2)  # the local store checkpoints the WAV header every second
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
            while True:
                await socket.recv()
    queue_name = server.environment["TANDEM_QUEUE_NAME"]
    restarted = start_server(server.data_dir, triton.endpoints, TANDEM_QUEUE_NAME=queue_name)
    worker = start_worker(restarted)
    try:
        job = wait_for_status(restarted.http_url, first_enhancement_job_id(session_id))
        assert job["status"] == "completed" and job["text"]
        assert _get(restarted, f"{SESSIONS}/{session_id}")["status"] == "interrupted"
        assert _get(restarted, f"{SESSIONS}/{session_id}/enhancement")["status"] == "completed"
    finally:
        worker.stop()
        restarted.stop()


def test_quick_start_commands_print_speaker_labelled_transcripts(hybrid_server, tmp_path: Path) -> None:
    """The README's quick start: a two-voice meeting, streamed with --enhance, and as a batch job."""
    meeting = tmp_path / "meeting.wav"
    subprocess.run([sys.executable, "-m", "benchmarks.conversations", str(meeting), "--voices", "2"], check=True,
                   capture_output=True)
    streamed = subprocess.run(
        [sys.executable, "-m", "clients.cli", "stream", str(meeting), "--url", hybrid_server.ws_url,
         "--speed", "0", "--enhance"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert "enhancement job:" in streamed and "Enhanced transcript" in streamed
    enhanced_lines = streamed.split("Enhanced transcript", 1)[1].splitlines()
    for speaker in ("SPEAKER_00:", "SPEAKER_01:"):
        assert any(speaker in line for line in enhanced_lines), streamed

    batch = subprocess.run(
        [sys.executable, "-m", "clients.cli", "transcribe", str(meeting), "--url", hybrid_server.http_url],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert batch.startswith("job ") and "SPEAKER_00:" in batch and "SPEAKER_01:" in batch


@pytest.fixture(scope="module")
def postgres_s3_server(triton, s3_server, tmp_path_factory) -> Iterator[ServeProcess]:
    """The production storage pair: PostgreSQL for the rows, S3 (moto_server) for audio and results."""
    with fresh_postgres_schema() as database_url:
        server = start_server(
            tmp_path_factory.mktemp("hybrid-pg-s3"), triton.endpoints,
            TANDEM_DATABASE_URL=database_url, TANDEM_S3_ENDPOINT_URL=s3_server,
            TANDEM_STORAGE_URL=f"s3://tandem-{uuid.uuid4().hex[:8]}/deploy",
        )
        worker = start_worker(server)
        yield server
        worker.stop()
        server.stop()


async def test_hybrid_flow_on_postgres_and_s3(postgres_s3_server, speech) -> None:
    result = await _stream(postgres_s3_server, speech.audio, store_audio=True, enhance_on_end=True,
                           enhance_wait=True)
    end = result.session_end
    assert end.audio_uri.startswith("s3://") and end.audio_uri.endswith(f"sessions/{end.session_id}/audio.wav")
    enhanced = result.of_type(EnhancementCompleted)[0].transcript
    assert len(enhanced.speakers) == 2 and word_error_rate(speech.text, enhanced.text) <= 0.1
    job = _get(postgres_s3_server, f"{JOBS}/{end.enhancement_job_id}")
    assert job["session_id"] == end.session_id and job["status"] == "completed"
    enhancement = _get(postgres_s3_server, f"{SESSIONS}/{end.session_id}/enhancement")
    assert enhancement["transcript"]["text"] == enhanced.text


async def test_sigterm_mid_session_is_still_enhanced(triton, tmp_path: Path, speech) -> None:
    server = start_server(tmp_path / "server", triton.endpoints)
    worker = start_worker(server)
    url = stream_url(server.ws_url, {"store_audio": True, "enhance_on_end": True})
    audio = encode_audio(speech.audio[: 16000 * 8], AudioEncoding.PCM_S16LE)
    try:
        with pytest.raises(websockets.ConnectionClosed):
            async with websockets.connect(url) as socket:
                session_id = decode_server_message(await socket.recv()).session_id
                for offset in range(0, len(audio), 3200):
                    await socket.send(audio[offset : offset + 3200])
                await socket.send(encode_message(FlushMessage()))
                while not isinstance(decode_server_message(await socket.recv()), TranscriptFinal):
                    pass
                server.process.send_signal(signal.SIGTERM)
                while True:
                    message = decode_server_message(await asyncio.wait_for(socket.recv(), 30))
                    if isinstance(message, SessionEnd):
                        assert message.enhancement_job_id == first_enhancement_job_id(session_id)
        assert server.stop() == 0
        restarted = start_server(server.data_dir, triton.endpoints,
                                 TANDEM_QUEUE_NAME=server.environment["TANDEM_QUEUE_NAME"])
        try:
            job = wait_for_status(restarted.http_url, first_enhancement_job_id(session_id))
            assert job["status"] == "completed" and job["text"]
            assert _get(restarted, f"{SESSIONS}/{session_id}")["status"] == "interrupted"
        finally:
            restarted.stop()
    finally:
        worker.stop()
        server.stop()


async def test_hybrid_session_with_cleanup_and_emotions(triton, llm_endpoint, tmp_path: Path, speech) -> None:
    server = start_server(tmp_path / "server", triton.endpoints, TANDEM_LLM_URL=llm_endpoint,
                          TANDEM_LLM_TIMEOUT_S="60")
    worker = start_worker(server)
    try:
        result = await _stream(server, speech.audio, store_audio=True, enhance_on_end=True, enhance_wait=True,
                               enhance_llm_cleanup=True, enhance_emotions=True)
    finally:
        worker.stop()
        server.stop()
    enhanced = result.of_type(EnhancementCompleted)[0].transcript
    assert all(segment.emotion is not None for segment in enhanced.segments)
    assert {speaker.name for speaker in enhanced.speakers} == {None, "Alice"}
    assert word_error_rate(speech.text, enhanced.text) <= 0.15
