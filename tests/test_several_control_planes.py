"""Two control planes on one PostgreSQL database: one's start never interrupts the other's live
sessions, and the sessions of one that dies are repaired by the other."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path

import httpx
import websockets

from clients.stream_client import encode_audio, stream_url
from core.protocol import AudioEncoding, SessionBegin, decode_server_message
from tests.conftest import fresh_postgres_schema
from tests.stack_fixtures import start_server

SESSIONS = "/v1/audio/transcriptions/stream"


async def test_a_second_control_plane_spares_live_sessions_and_repairs_those_of_a_dead_one(
    triton, tmp_path: Path, speech
) -> None:
    queue = f"tandem-test-{uuid.uuid4().hex[:8]}"
    with fresh_postgres_schema() as database_url:
        shared = {"TANDEM_DATABASE_URL": database_url, "TANDEM_QUEUE_NAME": queue}
        first = start_server(tmp_path / "first", triton.endpoints, **shared)
        second = None
        try:
            async with websockets.connect(stream_url(first.ws_url, {"language": "en"})) as live:
                begin = decode_server_message(await live.recv())
                assert isinstance(begin, SessionBegin)
                await live.send(encode_audio(speech.audio[:16000], AudioEncoding.PCM_S16LE))
                second = start_server(tmp_path / "second", triton.endpoints, **shared)
                record = httpx.get(f"{second.http_url}{SESSIONS}/{begin.session_id}").json()
                assert record["status"] == "active", record  # the first still serves it
                first.process.send_signal(signal.SIGKILL)  # dies without ending the session
                first.process.wait()
            deadline = time.monotonic() + 60
            while (record := httpx.get(f"{second.http_url}{SESSIONS}/{begin.session_id}").json())["status"] == "active":
                assert time.monotonic() < deadline, second.log_tail()
                await asyncio.sleep(1)
            assert record["status"] == "interrupted" and record["ended_at"]
            assert "sessions.repaired" in second.log()
        finally:
            first.stop()
            if second is not None:
                second.stop()
