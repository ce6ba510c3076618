"""WebSocket fuzzing: malformed input gets the documented errors, the server stays up and other
sessions are unaffected. Inputs come from a seeded generator, so a failure replays."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import websockets

from benchmarks.speech import CONVERSATION, SAMPLE_RATE, conversation, word_error_rate
from clients.stream_client import encode_audio, stream_audio, stream_url
from core.protocol import (
    AudioEncoding,
    CloseCode,
    ErrorCode,
    ErrorMessage,
    SessionBegin,
    SessionEnd,
    decode_server_message,
)

SEED = 14
VALID_MESSAGES = ['{"type":"config","language":"auto"}', '{"type":"flush"}', '{"type":"config","interim_results":true}']


def _bad_frames(rng: np.random.Generator) -> list[tuple[bytes | str, ErrorCode]]:
    """Each frame with the error it must earn (pcm_s16le at 16 kHz: at most 32000 bytes)."""
    frames: list[tuple[bytes | str, ErrorCode]] = [
        (b"", ErrorCode.INVALID_AUDIO),  # 0 bytes
        (b"\x00" * 2_000_000, ErrorCode.INVALID_AUDIO),  # 2 MB
        (b"\x00" * 32_002, ErrorCode.INVALID_AUDIO),  # one sample over 1 s
    ]
    for size in rng.integers(0, 16_000, 12) * 2 + 1:  # odd lengths
        frames.append((rng.bytes(int(size)), ErrorCode.INVALID_AUDIO))
    for message in VALID_MESSAGES + ['{"type":"end"}']:  # truncated JSON
        frames.append((message[: int(rng.integers(1, len(message) - 1))], ErrorCode.INVALID_MESSAGE))
    for _ in range(8):  # random text
        text = "".join(chr(c) for c in rng.integers(32, 0x2FF, int(rng.integers(1, 200))))
        frames.append((text, ErrorCode.INVALID_MESSAGE))
    for body in (
        {"type": "config", "language": 5},
        {"type": "config", "interim_results": "sometimes"},
        {"type": "config", "language": "fr"},  # not a language of the English-only model
        {"type": "config", "language": "xx"},
        {"type": "END"},
        {"type": None},
        {},
        [],
        "end",
        None,
    ):
        frames.append((json.dumps(body), ErrorCode.INVALID_MESSAGE))
    order = rng.permutation(len(frames))
    return [frames[i] for i in order]


async def _fuzzing_client(server) -> None:
    rng = np.random.default_rng(SEED)
    clip = conversation(CONVERSATION[:1])
    audio = encode_audio(clip.audio, AudioEncoding.PCM_S16LE)
    async with websockets.connect(stream_url(server.ws_url, {}), max_size=None) as socket:
        assert isinstance(decode_server_message(await socket.recv()), SessionBegin)
        for message in VALID_MESSAGES:  # control messages before any audio are fine
            await socket.send(message)
        for payload, expected in _bad_frames(rng):
            await socket.send(payload)
            while True:
                reply = decode_server_message(await asyncio.wait_for(socket.recv(), 30))
                if isinstance(reply, ErrorMessage):
                    break
            assert reply.code == expected and reply.recoverable, (payload[:40], reply)
            # random but valid audio between the bad frames
            await socket.send(rng.integers(-2000, 2000, int(rng.integers(1, 8000)), dtype=np.int16).tobytes())
        for offset in range(0, len(audio), 3200):
            await socket.send(audio[offset : offset + 3200])
        await socket.send('{"type":"end"}')
        await socket.send('{"type":"end"}')  # twice
        await socket.send(audio[:3200])  # and audio after `end`
        messages = []
        async for raw in socket:
            messages.append(decode_server_message(raw))
        assert isinstance(messages[-1], SessionEnd) and socket.close_code == CloseCode.NORMAL
        assert not [m for m in messages if isinstance(m, ErrorMessage)], "nothing after the first `end` is read"
        assert messages[-1].total_audio_seconds > clip.duration_s, "the valid audio was all accepted"


async def test_fuzzed_frames_get_documented_errors_and_spare_other_sessions(server, speech) -> None:
    good, _ = await asyncio.gather(
        stream_audio(
            stream_url(server.ws_url, {}),
            encode_audio(speech.audio, AudioEncoding.PCM_S16LE),
            bytes_per_second=SAMPLE_RATE * 2,
            speed=2.0,
        ),
        _fuzzing_client(server),
    )
    assert not good.of_type(ErrorMessage)
    assert word_error_rate(speech.text, good.session_end.transcript) <= 0.2
    async with websockets.connect(stream_url(server.ws_url, {})) as socket:  # and the server is still up
        assert isinstance(decode_server_message(await socket.recv()), SessionBegin)


async def test_config_language_is_checked_against_the_model(server) -> None:
    async with websockets.connect(stream_url(server.ws_url, {})) as socket:
        assert isinstance(decode_server_message(await socket.recv()), SessionBegin)
        await socket.send('{"type":"config","language":"fr"}')
        refused = decode_server_message(await asyncio.wait_for(socket.recv(), 30))
        assert isinstance(refused, ErrorMessage) and refused.code == ErrorCode.INVALID_MESSAGE
        assert "language" in refused.message and refused.recoverable
        await socket.send('{"type":"config","language":"en"}')
        await socket.send('{"type":"end"}')
        messages = [decode_server_message(raw) async for raw in socket]
    assert not [m for m in messages if isinstance(m, ErrorMessage)] and isinstance(messages[-1], SessionEnd)
