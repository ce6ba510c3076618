"""The live path under faults: a database or a store that fails mid-session, clients that do not
read, more clients than the server serves. Real components throughout; the faults are caused for
real by a TCP proxy (:mod:`tests.tcp_proxy`) in front of PostgreSQL or ``moto_server``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from contextlib import ExitStack
from urllib.parse import urlsplit

import httpx
import numpy as np
import psutil
import pytest
import soxr
import websockets
from sqlalchemy.engine import make_url

from benchmarks.speech import CONVERSATION, SAMPLE_RATE, conversation, word_error_rate
from clients.stream_client import encode_audio, stream_url
from control_plane.live.archive import repair_unfinished_sessions
from core.persistence import sessions as repository
from core.persistence.database import Database
from core.protocol import (
    AudioEncoding,
    CloseCode,
    EndMessage,
    ErrorCode,
    ErrorMessage,
    SessionBegin,
    SessionEnd,
    TranscriptFinal,
    WarningCode,
    WarningMessage,
    decode_server_message,
    encode_message,
)
from core.storage import open_store
from tests.conftest import fresh_postgres_schema
from tests.stack_fixtures import start_server
from tests.tcp_proxy import TcpProxy

RECV_TIMEOUT_S = 60.0
"""Guards against a hang (the failure these tests catch), not a timing requirement."""

S3_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "tandem-test",
    "AWS_SECRET_ACCESS_KEY": "tandem-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


async def _send_all(socket, data: bytes, frame_bytes: int) -> None:
    for offset in range(0, len(data), frame_bytes):
        await socket.send(data[offset : offset + frame_bytes])


async def _messages_until_closed(socket) -> list:
    messages = []
    while True:
        try:
            raw = await asyncio.wait_for(socket.recv(), RECV_TIMEOUT_S)
        except websockets.ConnectionClosed:
            return messages
        messages.append(decode_server_message(raw))


def _metric(server, name: str) -> float:
    for line in httpx.get(f"{server.http_url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


# --- ending a session while the database is unreachable -------------------------------------


async def test_database_lost_at_end_still_sends_session_end_and_leaves_the_row_for_repair(
    triton, tmp_path
) -> None:
    clip = conversation(CONVERSATION[:1])
    with ExitStack() as stack:
        direct_url = stack.enter_context(fresh_postgres_schema())
        parsed = make_url(direct_url)
        proxy = stack.enter_context(TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432))
        proxied_url = parsed.set(port=proxy.port).render_as_string(hide_password=False)
        server = start_server(tmp_path / "server", triton.endpoints, TANDEM_DATABASE_URL=proxied_url)
        stack.callback(server.stop)

        async with websockets.connect(stream_url(server.ws_url, {"store_audio": True})) as ws:
            begin = decode_server_message(await ws.recv())
            assert isinstance(begin, SessionBegin)
            await _send_all(ws, encode_audio(clip.audio, AudioEncoding.PCM_S16LE), 3200)
            proxy.stop()  # PostgreSQL is gone at the moment of `end`
            await ws.send(encode_message(EndMessage()))
            messages = await _messages_until_closed(ws)
            close_code = ws.close_code

        assert isinstance(messages[-1], SessionEnd), messages[-3:]
        assert close_code == CloseCode.NORMAL
        errors = [m for m in messages if isinstance(m, ErrorMessage)]
        assert errors and errors[-1].code == ErrorCode.STORAGE_FAILED and not errors[-1].recoverable
        assert messages.index(errors[-1]) < len(messages) - 1, "the error comes before session.end"
        assert word_error_rate(clip.text, messages[-1].transcript) <= 0.2, "the transcript is still delivered"
        assert _metric(server, "tandem_live_sessions_active") == 0, "the session's tasks are released"
        assert "session.end" in server.log()

        database = Database.open(direct_url)
        stack.callback(database.close)
        assert repository.get_session(database, begin.session_id).status == "active", "left for the repair"
        store = open_store(str(server.data_dir / "objects"))
        assert begin.session_id in repair_unfinished_sessions(database, store)
        assert repository.get_session(database, begin.session_id).status == "interrupted"

        proxy.start()  # the database is back: the next session is stored normally
        async with websockets.connect(stream_url(server.ws_url, {})) as ws:
            assert isinstance(decode_server_message(await ws.recv()), SessionBegin)
            await ws.send(encode_message(EndMessage()))
            assert isinstance((await _messages_until_closed(ws))[-1], SessionEnd)


# --- a store that fails or stalls mid-session ------------------------------------------------

RECORDING_RATE = 48000
"""At 48 kHz a recording fills its first two 5 MiB multipart parts in about 110 s of audio."""


def _at_recording_rate(audio: np.ndarray) -> np.ndarray:
    return soxr.resample(audio, SAMPLE_RATE, RECORDING_RATE).astype(np.float32)


def _quiet(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.standard_normal(int(seconds * RECORDING_RATE)) * 1e-3).astype(np.float32)


@pytest.fixture
def s3_behind_proxy(s3_server, triton, tmp_path):
    """A control plane whose S3 endpoint is a proxy in front of ``moto_server``."""
    endpoint = urlsplit(s3_server)
    with ExitStack() as stack:
        proxy = stack.enter_context(TcpProxy(endpoint.hostname, endpoint.port))
        bucket = f"tandem-{uuid.uuid4().hex[:8]}"
        server = start_server(
            tmp_path / "server",
            triton.endpoints,
            TANDEM_S3_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}",
            TANDEM_STORAGE_URL=f"s3://{bucket}/deploy",
            **S3_ENVIRONMENT,
        )
        stack.callback(server.stop)
        server.bucket = bucket
        yield server, proxy


async def test_s3_lost_mid_session_fails_the_recording_not_the_session(s3_behind_proxy) -> None:
    server, proxy = s3_behind_proxy
    clip = conversation(CONVERSATION[:1])
    speech = encode_audio(_at_recording_rate(clip.audio), AudioEncoding.PCM_S16LE)
    silence = encode_audio(_quiet(115.0), AudioEncoding.PCM_S16LE)
    url = stream_url(server.ws_url, {"store_audio": True, "sample_rate": RECORDING_RATE})
    async with websockets.connect(url) as ws:
        begin = decode_server_message(await ws.recv())
        await _send_all(ws, speech, 9600)
        proxy.stop()  # S3 is gone before the first part upload
        await _send_all(ws, silence, 96000)
        await ws.send(encode_message(EndMessage()))
        messages = await _messages_until_closed(ws)

    warnings = [m for m in messages if isinstance(m, WarningMessage)]
    assert [w.code for w in warnings if w.code == WarningCode.RECORDING_FAILED] == [WarningCode.RECORDING_FAILED]
    end = messages[-1]
    assert isinstance(end, SessionEnd) and end.audio_uri is None, "a broken recording is never reported"
    assert isinstance(messages[-2], ErrorMessage) and messages[-2].code == ErrorCode.STORAGE_FAILED
    assert word_error_rate(clip.text, end.transcript) <= 0.2, "transcription went on"

    record = httpx.get(f"{server.http_url}/v1/audio/transcriptions/stream/{begin.session_id}").json()
    assert record["status"] == "failed" and record["audio_uri"] is None
    assert "recording" in record["error"]
    assert record["transcript"] == end.transcript
    assert httpx.get(f"{server.http_url}/v1/audio/transcriptions/stream/{begin.session_id}/audio").status_code == 404
    assert "recording.write_failed" in server.log()


async def test_stalled_s3_does_not_delay_transcripts_and_the_recording_survives(s3_behind_proxy) -> None:
    server, proxy = s3_behind_proxy
    clip = conversation(CONVERSATION[:1])
    silence = encode_audio(_quiet(112.0), AudioEncoding.PCM_S16LE)
    speech = encode_audio(_at_recording_rate(clip.audio), AudioEncoding.PCM_S16LE)
    url = stream_url(server.ws_url, {"store_audio": True, "sample_rate": RECORDING_RATE, "interim_results": False})
    async with websockets.connect(url) as ws:
        begin = decode_server_message(await ws.recv())
        proxy.pause()  # every S3 request now hangs
        await _send_all(ws, silence + speech, 96000)
        final = None
        while final is None:  # the final arrives while the part upload is still stalled
            message = decode_server_message(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S))
            assert not isinstance(message, ErrorMessage), message
            assert getattr(message, "code", None) != WarningCode.RECORDING_FAILED, message
            if isinstance(message, TranscriptFinal):
                final = message
        assert word_error_rate(clip.text, final.text) <= 0.2
        proxy.resume()
        await ws.send(encode_message(EndMessage()))
        messages = await _messages_until_closed(ws)

    end = messages[-1]
    assert isinstance(end, SessionEnd) and end.audio_uri == f"s3://{server.bucket}/deploy/sessions/{begin.session_id}/audio.wav"
    audio = httpx.get(f"{server.http_url}/v1/audio/transcriptions/stream/{begin.session_id}/audio")
    assert audio.status_code == 200 and audio.content[44:] == silence + speech


async def test_storage_slower_than_the_stream_stops_the_recording_with_bounded_memory(triton, s3_server, tmp_path):
    endpoint = urlsplit(s3_server)
    clip = conversation(CONVERSATION[:1])
    with ExitStack() as stack:
        proxy = stack.enter_context(TcpProxy(endpoint.hostname, endpoint.port))
        server = start_server(
            tmp_path / "server",
            triton.endpoints,
            TANDEM_S3_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}",
            TANDEM_STORAGE_URL=f"s3://tandem-{uuid.uuid4().hex[:8]}",
            TANDEM_RECORDING_BUFFER_S="20",
            **S3_ENVIRONMENT,
        )
        stack.callback(server.stop)
        stack.callback(proxy.resume)
        process = psutil.Process(server.process.pid)
        url = stream_url(server.ws_url, {"store_audio": True, "sample_rate": RECORDING_RATE})
        async with websockets.connect(url) as ws:
            decode_server_message(await ws.recv())
            proxy.pause()  # the store stalls for good
            baseline = process.memory_info().rss
            peak = baseline
            async with _sampling_peak_rss(process) as peak_rss:
                # 112 s fill the two multipart parts kept in memory (10 MB); the upload of part 2
                # then hangs while 400 s more (38 MB of PCM) arrive.
                await _send_all(ws, encode_audio(_quiet(512.0), AudioEncoding.PCM_S16LE), 96000)
                await _send_all(ws, encode_audio(_at_recording_rate(clip.audio), AudioEncoding.PCM_S16LE), 9600)
                await ws.send(encode_message(EndMessage()))
                messages = await _messages_until_closed(ws)
            peak = peak_rss()
    warnings = [m for m in messages if isinstance(m, WarningMessage) and m.code == WarningCode.RECORDING_FAILED]
    assert warnings and "too slow" in warnings[0].message
    end = messages[-1]
    assert isinstance(end, SessionEnd) and end.audio_uri is None
    assert word_error_rate(clip.text, end.transcript) <= 0.2
    grown_mb = (peak - baseline) / 2**20
    print(f"control plane peak RSS growth over 512 s of audio with a stalled store: {grown_mb:.1f} MB")
    # Held at most: the two parts (10 MB), 20 s waiting for the store (1.9 MB), 64 queued frames
    # (10 MB with their 16 kHz copies); measured 30 MB. Keeping all that waits takes over 58 MB.
    assert grown_mb < 45, f"peak RSS grew by {grown_mb:.1f} MB"


@contextlib.asynccontextmanager
async def _sampling_peak_rss(process: psutil.Process, interval_s: float = 0.1):
    peak = process.memory_info().rss

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(interval_s)

    sampler = asyncio.create_task(sample())
    try:
        yield lambda: peak
    finally:
        sampler.cancel()


# --- slow and greedy clients -----------------------------------------------------------------


async def test_client_that_does_not_read_is_closed_as_slow_consumer(triton, tmp_path) -> None:
    server = start_server(tmp_path / "server", triton.endpoints, TANDEM_OUTBOX_MAX_MESSAGES="64")
    clip = conversation(CONVERSATION[:1])
    sent = encode_audio(clip.audio, AudioEncoding.PCM_S16LE)
    try:
        process = psutil.Process(server.process.pid)
        before = process.memory_info().rss
        port = urlsplit(server.http_url).port
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing
        raw.connect(("127.0.0.1", port))
        async with websockets.connect(
            stream_url(server.ws_url, {"store_audio": True}), sock=raw, max_queue=1
        ) as ws:
            await _send_all(ws, sent, 3200)
            flooded = 0
            with contextlib.suppress(TimeoutError, websockets.ConnectionClosed):
                while flooded < 30_000:  # each odd-length frame earns an `invalid_audio` error
                    await asyncio.wait_for(ws.send(b"\x01"), 5)
                    flooded += 1
            grown = process.memory_info().rss - before
            messages = await _messages_until_closed(ws)
            close_code = ws.close_code
        print(f"slow consumer: {flooded} frames flooded, control plane RSS growth {grown / 2**20:.1f} MB")
        assert isinstance(messages[-1], ErrorMessage) and messages[-1].code == ErrorCode.SLOW_CONSUMER
        assert not any(isinstance(m, SessionEnd) for m in messages)
        assert close_code == CloseCode.POLICY_VIOLATION
        assert grown < 20 * 2**20, f"RSS grew by {grown / 2**20:.1f} MB"

        session_id = messages[0].session_id
        for _ in range(300):
            record = httpx.get(f"{server.http_url}/v1/audio/transcriptions/stream/{session_id}").json()
            if record["status"] != "active":
                break
            await asyncio.sleep(0.1)
        assert record["status"] == "interrupted" and record["audio_uri"]
        audio = httpx.get(f"{server.http_url}/v1/audio/transcriptions/stream/{session_id}/audio")
        assert audio.content[44:] == sent, "the recording holds the audio sent"
        assert _metric(server, "tandem_live_sessions_active") == 0
    finally:
        server.stop()


async def test_sessions_over_the_cap_get_capacity_and_4503(triton, tmp_path) -> None:
    server = start_server(tmp_path / "server", triton.endpoints, TANDEM_MAX_SESSIONS="2")
    try:
        process = psutil.Process(server.process.pid)
        async with websockets.connect(stream_url(server.ws_url, {})) as first, websockets.connect(
            stream_url(server.ws_url, {})
        ) as second:
            for ws in (first, second):
                assert isinstance(decode_server_message(await ws.recv()), SessionBegin)
            before = process.memory_info().rss
            for _ in range(40):
                async with websockets.connect(stream_url(server.ws_url, {})) as refused:
                    messages = await _messages_until_closed(refused)
                assert len(messages) == 1 and messages[0].code == ErrorCode.CAPACITY and not messages[0].recoverable
                assert refused.close_code == CloseCode.CAPACITY
            grown = process.memory_info().rss - before
            print(f"40 refused connections grew the control plane's RSS by {grown / 2**20:.1f} MB")
            assert grown < 10 * 2**20
            assert _metric(server, "tandem_live_sessions_active") == 2
            await first.send(encode_message(EndMessage()))
            assert isinstance((await _messages_until_closed(first))[-1], SessionEnd)
            for _ in range(100):  # the slot is freed just after session.end is sent
                async with websockets.connect(stream_url(server.ws_url, {})) as again:
                    if isinstance(decode_server_message(await again.recv()), SessionBegin):
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the freed slot was never reused")
    finally:
        server.stop()
