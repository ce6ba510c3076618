"""A client of the live WebSocket: streams audio at a chosen pace and records what comes back.

Shared by the ``tandem stream`` command, the tests and the benchmarks.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import websockets
from rich.console import Console
from rich.live import Live
from rich.text import Text

from control_plane.audio_input import float_to_pcm16
from control_plane.gateway import STREAM_PATH
from control_plane.protocol import (
    AudioEncoding,
    EndMessage,
    ErrorMessage,
    ServerMessage,
    SessionEnd,
    TranscriptFinal,
    TranscriptPartial,
    decode_server_message,
    encode_message,
)


@dataclass(frozen=True)
class ReceivedMessage:
    message: ServerMessage
    received_at: float
    """``time.monotonic()`` on arrival."""


@dataclass
class StreamResult:
    messages: list[ReceivedMessage] = field(default_factory=list)
    audio_started_at: float = 0.0
    """``time.monotonic()`` when the first audio frame was sent (audio time 0 at real-time pace)."""
    close_code: int | None = None

    def of_type(self, kind: type) -> list:
        return [m.message for m in self.messages if isinstance(m.message, kind)]

    @property
    def session_end(self) -> SessionEnd | None:
        ends = self.of_type(SessionEnd)
        return ends[0] if ends else None


def load_audio(path: Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode any audio file (through ``av``) to mono float32 at ``sample_rate``."""
    from faster_whisper.audio import decode_audio

    return decode_audio(str(path), sampling_rate=sample_rate)


def encode_audio(audio: np.ndarray, encoding: AudioEncoding) -> bytes:
    if encoding is AudioEncoding.PCM_F32LE:
        return audio.astype("<f4").tobytes()
    return float_to_pcm16(audio).tobytes()


def stream_url(base_url: str, query: dict[str, object]) -> str:
    values = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in query.items() if v is not None}
    return f"{base_url.rstrip('/')}{STREAM_PATH}?{urlencode(values)}"


async def stream_audio(
    url: str,
    audio: bytes,
    *,
    bytes_per_second: int,
    frame_s: float = 0.1,
    speed: float = 1.0,
    send_end: bool = True,
    on_message=None,
) -> StreamResult:
    """Send ``audio`` in ``frame_s`` frames paced at ``speed`` × real time, then ``end``; collect replies."""
    result = StreamResult()
    frame_bytes = max(1, int(bytes_per_second * frame_s)) // 4 * 4 or 4
    async with websockets.connect(url, max_size=None) as socket:

        async def receive() -> None:
            async for raw in socket:
                received = ReceivedMessage(decode_server_message(raw), time.monotonic())
                result.messages.append(received)
                if on_message is not None:
                    on_message(received.message)

        receiver = asyncio.create_task(receive())
        result.audio_started_at = time.monotonic()
        for index, offset in enumerate(range(0, len(audio), frame_bytes)):
            if receiver.done():
                break
            await socket.send(audio[offset : offset + frame_bytes])
            if speed > 0:
                due = result.audio_started_at + (index + 1) * frame_s / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        if send_end and not receiver.done():
            await socket.send(encode_message(EndMessage()))
        try:
            await asyncio.wait_for(receiver, timeout=120)
        except websockets.ConnectionClosed:
            pass
        result.close_code = socket.close_code
    return result


async def stream_file(path: Path, base_url: str, *, speed: float, query: dict[str, object], console: Console) -> None:
    """Stream a file as 16 kHz PCM and show the transcript live (the ``tandem stream`` command)."""
    audio = load_audio(path)
    partial = ""
    with Live(Text(""), console=console, refresh_per_second=10, transient=True) as live:

        def show(message: ServerMessage) -> None:
            nonlocal partial
            if isinstance(message, TranscriptPartial):
                partial = message.text
            elif isinstance(message, TranscriptFinal):
                partial = ""
                console.print(f"[bold][{message.start:7.2f} → {message.end:7.2f}][/bold] {message.text}", soft_wrap=True)
            live.update(Text(partial, style="dim italic"))

        result = await stream_audio(
            stream_url(base_url, query), encode_audio(audio, AudioEncoding.PCM_S16LE),
            bytes_per_second=32000, speed=speed, on_message=show,
        )
    for error in result.of_type(ErrorMessage):
        console.print(f"[red]error[/red] {error.code}: {error.message}")
    end = result.session_end
    if end is not None:
        console.print(f"\nsession {end.session_id}: {end.total_audio_seconds:.1f} s of audio", soft_wrap=True)
        if end.audio_uri:
            console.print(f"audio: {end.audio_uri}", soft_wrap=True)
