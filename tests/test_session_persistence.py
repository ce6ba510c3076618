"""Durable sessions end to end: real WebSocket sessions, then the REST API, the database and the store.

Runs on two stacks: SQLite + the local folder (the defaults) and PostgreSQL + S3 (``moto_server``).
"""

from __future__ import annotations

import asyncio
import io
import signal
import uuid
from contextlib import ExitStack

import httpx
import numpy as np
import psutil
import pytest
import soundfile
import websockets

from benchmarks.speech import CONVERSATION, SAMPLE_RATE, conversation, word_error_rate
from clients.stream_client import encode_audio, stream_audio, stream_url
from core.audio.frames import float_to_pcm16
from core.protocol import AudioEncoding, ErrorMessage, SessionBegin, decode_server_message
from core.storage.keys import session_audio_key
from tests.conftest import fresh_postgres_schema
from tests.stack_fixtures import start_server


@pytest.fixture(scope="module", params=["sqlite+local", "postgres+s3"])
def durable_server(request, triton, tmp_path_factory):
    with ExitStack() as stack:
        environment = {}
        if request.param == "postgres+s3":
            environment = {
                "TANDEM_DATABASE_URL": stack.enter_context(fresh_postgres_schema()),
                "TANDEM_S3_ENDPOINT_URL": request.getfixturevalue("s3_server"),
                "TANDEM_STORAGE_URL": f"s3://tandem-{uuid.uuid4().hex[:8]}/deploy",
                "AWS_ACCESS_KEY_ID": "tandem-test",
                "AWS_SECRET_ACCESS_KEY": "tandem-test",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        server = start_server(tmp_path_factory.mktemp(request.param.replace("+", "-")), triton.endpoints, **environment)
        stack.callback(server.stop)
        server.environment = environment
        yield server


def _session(server, session_id: str) -> dict:
    response = httpx.get(f"{server.http_url}/v1/audio/transcriptions/stream/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def _wait_until_ended(server, session_id: str, timeout_s: float = 60.0) -> dict:
    for _ in range(int(timeout_s * 10)):
        record = _session(server, session_id)
        if record["status"] != "active":
            return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"session {session_id} still active after {timeout_s} s")


def _wav(server, session_id: str) -> tuple[bytes, soundfile.SoundFile]:
    response = httpx.get(f"{server.http_url}/v1/audio/transcriptions/stream/{session_id}/audio")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("audio/")
    return response.content, soundfile.SoundFile(io.BytesIO(response.content))


def _long_speech(seconds: float) -> np.ndarray:
    clip = conversation()
    repeats = int(np.ceil(seconds / clip.duration_s))
    return np.tile(clip.audio, repeats)[: int(seconds * SAMPLE_RATE)]


async def test_two_minute_session_is_recorded_byte_for_byte(durable_server) -> None:
    audio = _long_speech(120.0)
    sent = encode_audio(audio, AudioEncoding.PCM_S16LE)
    url = stream_url(durable_server.ws_url, {"store_audio": True, "store_transcript": True, "word_timestamps": True})
    result = await stream_audio(url, sent, bytes_per_second=SAMPLE_RATE * 2, speed=0)
    end = result.session_end
    assert end.audio_uri and end.total_audio_seconds == pytest.approx(120.0, abs=0.001)
    expected_scheme = "s3://" if "TANDEM_STORAGE_URL" in durable_server.environment else "file://"
    assert end.audio_uri.startswith(expected_scheme)

    record = _session(durable_server, end.session_id)
    assert record["status"] == "completed"
    assert record["total_audio_seconds"] == pytest.approx(120.0, abs=0.001)
    assert record["audio_uri"] == end.audio_uri
    assert record["utterance_count"] == len(end.segments) > 0
    assert record["transcript"] == end.transcript
    assert record["params"]["store_audio"] is True and record["ended_at"]

    wav_bytes, wav = _wav(durable_server, end.session_id)
    assert (wav.samplerate, wav.channels, wav.subtype, wav.frames) == (SAMPLE_RATE, 1, "PCM_16", len(audio))
    assert wav_bytes[44:] == sent, "the recording differs from the audio sent"

    transcript = httpx.get(f"{durable_server.http_url}/v1/audio/transcriptions/stream/{end.session_id}/transcript")
    assert transcript.status_code == 200
    body = transcript.json()
    assert body["text"] == end.transcript
    assert len(body["segments"]) == len(end.segments) and body["segments"][0]["words"]


async def test_f32_input_is_recorded_as_pcm16_at_its_own_rate(durable_server) -> None:
    clip = conversation(CONVERSATION[:1])
    import soxr

    audio = soxr.resample(clip.audio, SAMPLE_RATE, 44100).astype(np.float32) * 1.5  # some samples clip
    url = stream_url(durable_server.ws_url, {"store_audio": True, "encoding": "pcm_f32le", "sample_rate": 44100})
    result = await stream_audio(url, encode_audio(audio, AudioEncoding.PCM_F32LE), bytes_per_second=44100 * 4, speed=0)
    _, wav = _wav(durable_server, result.session_end.session_id)
    assert (wav.samplerate, wav.subtype, wav.frames) == (44100, "PCM_16", len(audio))
    np.testing.assert_array_equal(wav.read(dtype="int16"), float_to_pcm16(audio))
    assert word_error_rate(clip.text, result.session_end.transcript) <= 0.2


async def test_client_that_vanishes_leaves_an_interrupted_playable_session(durable_server) -> None:
    audio = _long_speech(8.0)
    sent = encode_audio(audio, AudioEncoding.PCM_S16LE)
    url = stream_url(durable_server.ws_url, {"store_audio": True})
    async with websockets.connect(url) as socket:
        begin = decode_server_message(await socket.recv())
        assert isinstance(begin, SessionBegin)
        for offset in range(0, len(sent), 3200):
            await socket.send(sent[offset : offset + 3200])
        # no `end`: the connection just closes
    record = await _wait_until_ended(durable_server, begin.session_id)
    assert record["status"] == "interrupted"
    assert record["total_audio_seconds"] == pytest.approx(8.0, abs=0.001)
    assert record["transcript"], "speech heard before the disconnect is kept"
    wav_bytes, wav = _wav(durable_server, begin.session_id)
    assert wav.frames == len(audio) and wav_bytes[44:] == sent


async def test_sessions_can_be_listed_filtered_and_deleted(durable_server) -> None:
    clip = conversation(CONVERSATION[:1])
    url = stream_url(durable_server.ws_url, {"store_audio": True, "store_transcript": True})
    finished = await stream_audio(url, encode_audio(clip.audio, AudioEncoding.PCM_S16LE),
                                  bytes_per_second=SAMPLE_RATE * 2, speed=0)
    session_id = finished.session_end.session_id
    base = f"{durable_server.http_url}/v1/audio/transcriptions/stream"

    async with websockets.connect(stream_url(durable_server.ws_url, {"store_audio": True})) as socket:
        active_id = decode_server_message(await socket.recv()).session_id
        listing = httpx.get(base, params={"status": "active"}).json()
        assert active_id in [s["id"] for s in listing["sessions"]]
        assert session_id not in [s["id"] for s in listing["sessions"]]
        conflict = httpx.delete(f"{base}/{active_id}")
        assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "session_active"

    page = httpx.get(base, params={"limit": 1}).json()
    assert len(page["sessions"]) == 1 and page["has_more"] and page["cursor"]
    following = httpx.get(base, params={"limit": 1, "cursor": page["cursor"]}).json()
    assert following["sessions"][0]["id"] != page["sessions"][0]["id"]
    assert httpx.get(base, params={"limit": 500}).status_code == 400

    assert httpx.delete(f"{base}/{session_id}").status_code == 204
    for path in ("", "/audio", "/transcript"):
        missing = httpx.get(f"{base}/{session_id}{path}")
        assert missing.status_code == 404 and missing.json()["error"]["code"]
    if "TANDEM_STORAGE_URL" not in durable_server.environment:
        assert not (durable_server.data_dir / "objects" / "sessions" / session_id).exists()


async def test_long_session_memory_stays_bounded(server) -> None:
    """Ten minutes of audio (speech and silence) recorded in one session grow the control plane's
    RSS by less than 60 MB (the audio itself is 19 MB at 16 kHz PCM16; the whole of it, plus
    the float copies the models read, would be well over 60 MB if any of it were kept)."""
    process = psutil.Process(server.process.pid)
    warm = conversation(CONVERSATION[:1])
    await stream_audio(
        stream_url(server.ws_url, {"store_audio": True}),
        encode_audio(warm.audio, AudioEncoding.PCM_S16LE),
        bytes_per_second=SAMPLE_RATE * 2,
        speed=0,
    )
    before = process.memory_info().rss
    speech = conversation(CONVERSATION[:2], gap_s=20.0, tail_silence_s=20.0).audio
    audio = np.tile(speech, int(np.ceil(600 * SAMPLE_RATE / len(speech))))[: 600 * SAMPLE_RATE]
    result = await stream_audio(stream_url(server.ws_url, {"store_audio": True}),
                                encode_audio(audio, AudioEncoding.PCM_S16LE), bytes_per_second=SAMPLE_RATE * 2, speed=0)
    after = process.memory_info().rss
    assert result.session_end.total_audio_seconds == pytest.approx(600.0, abs=0.001)
    print(f"control plane RSS growth over a 10-minute session: {(after - before) / 2**20:.1f} MB")
    assert after - before < 60 * 2**20, f"RSS grew by {(after - before) / 2**20:.1f} MB"


async def _wait_until_every_frame_is_read(socket, timeout_s: float = 60.0) -> None:
    """Frames are read in order: the answer to a message sent after them (an unknown message,
    which only earns a recoverable error) means the server has read every frame before it."""
    await socket.send('{"type":"probe"}')
    async with asyncio.timeout(timeout_s):
        while not isinstance(decode_server_message(await socket.recv()), ErrorMessage):
            pass


async def _wait_until_recorded(path, frames: int, timeout_s: float = 60.0) -> None:
    """Until the WAV header at ``path`` (checkpointed every second) announces at least ``frames``."""
    async with asyncio.timeout(timeout_s):
        while not (path.exists() and path.stat().st_size >= 44
                   and int.from_bytes(path.read_bytes()[40:44], "little") >= frames * 2):
            await asyncio.sleep(0.05)


async def test_sigterm_mid_session_finalizes_the_recording(triton, tmp_path) -> None:
    own = start_server(tmp_path / "sigterm", triton.endpoints)
    audio = _long_speech(6.0)
    sent = encode_audio(audio, AudioEncoding.PCM_S16LE)
    try:
        url = stream_url(own.ws_url, {"store_audio": True, "store_transcript": True})
        async with websockets.connect(url) as socket:
            session_id = decode_server_message(await socket.recv()).session_id
            for offset in range(0, len(sent), 3200):
                await socket.send(sent[offset : offset + 3200])
            await _wait_until_every_frame_is_read(socket)
            own.process.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(socket.recv(), 30)
        assert own.stop() == 0
    finally:
        own.stop()
    restarted = start_server(own.data_dir, triton.endpoints)
    try:
        record = _session(restarted, session_id)
        assert record["status"] == "interrupted"
        assert record["total_audio_seconds"] == pytest.approx(6.0, abs=0.001)
        assert record["transcript_uri"] and record["audio_uri"]
        wav_bytes, wav = _wav(restarted, session_id)
        assert wav.frames == len(audio) and wav_bytes[44:] == sent
    finally:
        restarted.stop()


async def test_killed_server_leaves_a_playable_recording(triton, tmp_path) -> None:
    own = start_server(tmp_path / "sigkill", triton.endpoints)
    audio = _long_speech(5.0)
    sent = encode_audio(audio, AudioEncoding.PCM_S16LE)
    try:
        async with websockets.connect(stream_url(own.ws_url, {"store_audio": True})) as socket:
            session_id = decode_server_message(await socket.recv()).session_id
            for offset in range(0, len(sent), 3200):
                await socket.send(sent[offset : offset + 3200])
            recording = own.data_dir / "objects" / session_audio_key(session_id)
            await _wait_until_recorded(recording, len(audio) - SAMPLE_RATE)
            own.process.send_signal(signal.SIGKILL)
            own.process.wait()
    finally:
        own.stop()
    restarted = start_server(own.data_dir, triton.endpoints)
    try:
        record = _session(restarted, session_id)
        assert record["status"] == "interrupted" and record["audio_uri"]
        _, wav = _wav(restarted, session_id)
        # the header is checkpointed every second of audio: at most the last second is unannounced
        assert len(audio) - SAMPLE_RATE <= wav.frames <= len(audio)
        np.testing.assert_array_equal(wav.read(dtype="int16"), float_to_pcm16(audio)[: wav.frames])
    finally:
        restarted.stop()
