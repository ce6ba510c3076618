"""The OpenAI and ElevenLabs realtime sockets driven by the vendors' own SDKs, on Tandem's live session."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import openai
import pytest
import soxr
import websockets
from elevenlabs import AudioFormat, CommitStrategy, ElevenLabs, RealtimeEvents

from benchmarks.speech import word_error_rate
from clients.stream_client import encode_audio
from core.protocol import AudioEncoding

CHUNK_S = 0.1


def pcm16_chunks(audio: np.ndarray, sample_rate: int) -> list[str]:
    """16 kHz float audio as base64 PCM16 chunks of 100 ms at ``sample_rate``."""
    resampled = soxr.resample(audio, 16000, sample_rate) if sample_rate != 16000 else audio
    data = encode_audio(resampled.astype(np.float32), AudioEncoding.PCM_S16LE)
    step = int(sample_rate * CHUNK_S) * 2
    return [base64.b64encode(data[i : i + step]).decode() for i in range(0, len(data), step)]


async def test_openai_realtime_transcription_with_server_vad(server, speech) -> None:
    client = openai.AsyncOpenAI(base_url=f"{server.http_url}/v1", api_key="unused")
    events = []
    async with client.realtime.connect(model="gpt-4o-transcribe", extra_query={"intent": "transcription"}) as conn:
        created = await conn.recv()
        assert created.type == "session.created" and created.session.type == "transcription"
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                        "turn_detection": {"type": "server_vad"},
                    }
                },
            }
        )
        updated = await conn.recv()
        assert updated.type == "session.updated"
        assert updated.session.audio.input.transcription.language == "en"

        async def send() -> None:
            for chunk in pcm16_chunks(speech.audio, 24000):
                await conn.input_audio_buffer.append(audio=chunk)
                await asyncio.sleep(0.02)

        sender = asyncio.create_task(send())
        async with asyncio.timeout(120):
            while sum(e.type.endswith("transcription.completed") for e in events) < len(speech.utterances):
                events.append(await conn.recv())
        await sender
    kinds = [event.type for event in events]
    assert kinds.count("input_audio_buffer.speech_started") == len(speech.utterances)
    assert "input_audio_buffer.speech_stopped" in kinds and "input_audio_buffer.committed" in kinds
    completed = [e for e in events if e.type == "conversation.item.input_audio_transcription.completed"]
    for item in completed:  # the deltas of an item join to its transcript
        deltas = [e.delta for e in events if e.type.endswith("transcription.delta") and e.item_id == item.item_id]
        assert "".join(deltas) == item.transcript
        assert item.usage.type == "duration" and item.usage.seconds > 0
    started = [e.item_id for e in events if e.type == "input_audio_buffer.speech_started"]
    assert [item.item_id for item in completed] == started
    assert word_error_rate(speech.text, " ".join(item.transcript for item in completed)) < 0.2


async def test_openai_realtime_beta_update_and_manual_commit(server, speech) -> None:
    """The beta ``transcription_session.update`` without turn detection: one item per commit; an append may
    hold seconds of audio; what the door does not serve is an ``error`` and the session goes on."""
    line = speech.utterances[0]
    audio = speech.audio[: int((line.speech_end_s + 0.3) * 16000)]
    async with websockets.connect(f"{server.ws_url}/openai/v1/realtime?intent=transcription") as socket:
        assert json.loads(await socket.recv())["type"] == "session.created"
        pcmu = {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}
        await socket.send(json.dumps({"type": "session.update", "session": pcmu}))
        refused = json.loads(await socket.recv())
        assert refused["type"] == "error" and refused["error"]["type"] == "invalid_request_error"
        update = {
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": "whisper-1"},
            "turn_detection": None,
        }
        await socket.send(json.dumps({"type": "transcription_session.update", "session": update}))
        updated = json.loads(await socket.recv())
        assert updated["type"] == "transcription_session.updated" and updated["session"]["turn_detection"] is None
        whole = base64.b64encode(b"".join(base64.b64decode(chunk) for chunk in pcm16_chunks(audio, 24000))).decode()
        await socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": whole}))
        await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
        events = []
        async with asyncio.timeout(60):
            while not events or events[-1]["type"] != "conversation.item.input_audio_transcription.completed":
                events.append(json.loads(await socket.recv()))
        await socket.send(json.dumps({"type": "response.create"}))
        error = json.loads(await socket.recv())
    assert not any(e["type"] == "error" or e["type"].startswith("input_audio_buffer.speech") for e in events)
    assert word_error_rate(line.text, events[-1]["transcript"]) < 0.2
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"


async def _elevenlabs_session(
    server, pieces: list[np.ndarray], options: dict, *, commit: bool, finals: int
) -> list[dict]:
    """Stream ``pieces`` (committing after each when ``commit``) until ``finals`` committed transcripts came."""
    client = ElevenLabs(base_url=server.http_url, api_key="unused")
    connection = await client.speech_to_text.realtime.connect(
        {"model_id": "scribe_v1", "audio_format": AudioFormat.PCM_16000, "sample_rate": 16000} | options
    )
    messages: list[dict] = []
    for event in (
        RealtimeEvents.SESSION_STARTED,
        RealtimeEvents.PARTIAL_TRANSCRIPT,
        RealtimeEvents.COMMITTED_TRANSCRIPT,
        RealtimeEvents.COMMITTED_TRANSCRIPT_WITH_TIMESTAMPS,
        RealtimeEvents.ERROR,
    ):
        connection.on(event, messages.append)
    for audio in pieces:
        for chunk in pcm16_chunks(audio, 16000):
            await connection.send({"audio_base_64": chunk})
            await asyncio.sleep(0.02)
        if commit:
            await connection.commit()
    async with asyncio.timeout(120):
        while sum(m["message_type"] == "committed_transcript" for m in messages) < finals:
            await asyncio.sleep(0.05)
    await connection.close()
    return messages


async def test_elevenlabs_realtime_vad_commits_with_timestamps(server, speech) -> None:
    options = {"commit_strategy": CommitStrategy.VAD, "include_timestamps": True, "language_code": "en"}
    messages = await _elevenlabs_session(server, [speech.audio], options, commit=False, finals=len(speech.utterances))
    assert messages[0]["message_type"] == "session_started" and messages[0]["config"]["commit_strategy"] == "vad"
    assert any(m["message_type"] == "partial_transcript" for m in messages)
    committed = [m["text"] for m in messages if m["message_type"] == "committed_transcript"]
    assert word_error_rate(speech.text, " ".join(committed)) < 0.2
    timed = [m for m in messages if m["message_type"] == "committed_transcript_with_timestamps"]
    assert len(timed) == len(committed)
    words = timed[0]["words"]
    assert [w["type"] for w in words[:3]] == ["word", "spacing", "word"]
    assert all(w["speaker_id"] == "speaker_0" and w["logprob"] <= 0 and w["start"] <= w["end"] for w in words)


async def test_elevenlabs_realtime_manual_commit(server, speech) -> None:
    """ElevenLabs' default: nothing is committed until the client commits; one transcript per commit."""
    lines = speech.utterances[:2]
    pieces = [speech.audio[int((u.speech_start_s - 0.3) * 16000) : int((u.speech_end_s + 0.3) * 16000)] for u in lines]
    messages = await _elevenlabs_session(server, pieces, {}, commit=True, finals=2)
    committed = [m["text"] for m in messages if m["message_type"] == "committed_transcript"]
    assert len(committed) == 2
    for line, text in zip(lines, committed):
        assert word_error_rate(line.text, text) < 0.2
    assert messages[0]["config"]["commit_strategy"] == "manual"


async def test_elevenlabs_realtime_refuses_an_unknown_audio_format(server) -> None:
    async with websockets.connect(f"{server.ws_url}/v1/speech-to-text/realtime?audio_format=ulaw_8000") as socket:
        message = json.loads(await socket.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()
    assert message["message_type"] == "invalid_request" and "ulaw_8000" in message["error"]
