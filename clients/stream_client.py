"""A client of the live WebSocket: streams audio at a chosen pace and records what comes back.

Shared by the ``tandem stream`` command, the tests and the benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import websockets
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.text import Text

from control_plane.live.gateway import STREAM_PATH
from core.audio.frames import float_to_pcm16
from core.exports import speaker_names
from core.protocol import (
    AudioEncoding,
    EndMessage,
    EnhancementCompleted,
    EnhancementFailed,
    EnhancementProgress,
    ErrorMessage,
    ServerMessage,
    SessionEnd,
    TranscriptFinal,
    TranscriptPartial,
    decode_server_message,
    encode_message,
)
from core.transcript import Transcript


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
    reply_timeout_s: float = 120.0,
    api_key: str | None = None,
) -> StreamResult:
    """Send ``audio`` in ``frame_s`` frames paced at ``speed`` × real time, then ``end``; collect replies.

    ``api_key`` goes in an ``Authorization: Bearer`` header (servers with ``TANDEM_AUTH=keys``).
    """
    result = StreamResult()
    frame_bytes = max(1, int(bytes_per_second * frame_s)) // 4 * 4 or 4
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    async with websockets.connect(url, max_size=None, additional_headers=headers) as socket:

        async def receive() -> None:
            async for raw in socket:
                received = ReceivedMessage(decode_server_message(raw), time.monotonic())
                result.messages.append(received)
                if on_message is not None:
                    on_message(received.message)

        receiver = asyncio.create_task(receive())
        result.audio_started_at = time.monotonic()
        # The server may end the session while frames are being sent: why is in its `error` message.
        with contextlib.suppress(websockets.ConnectionClosed):
            for index, offset in enumerate(range(0, len(audio), frame_bytes)):
                if receiver.done():
                    break
                await socket.send(audio[offset : offset + frame_bytes])
                if speed > 0:
                    due = result.audio_started_at + (index + 1) * frame_s / speed
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
            if send_end and not receiver.done():
                await socket.send(encode_message(EndMessage()))
        with contextlib.suppress(websockets.ConnectionClosed):
            await asyncio.wait_for(receiver, timeout=reply_timeout_s)
        result.close_code = socket.close_code
    return result


ENHANCEMENT_TIMEOUT_S = 3600.0


async def stream_file(
    path: Path,
    base_url: str,
    *,
    speed: float,
    query: dict[str, object],
    console: Console,
    api_key: str | None = None,
) -> StreamResult:
    """Stream a file as 16 kHz PCM and show the transcript live (the ``tandem stream`` command).

    With ``enhance_wait`` in ``query`` a progress bar follows the session, then the enhanced,
    speaker-labelled transcript. Errors the server sent are printed after it.
    """
    audio = load_audio(path)
    partial = Text("")
    with Live(Text(""), console=console, refresh_per_second=10, transient=True) as live:

        def show(message: ServerMessage) -> None:
            nonlocal partial
            if isinstance(message, TranscriptPartial):
                partial = _partial_text(message)
            elif isinstance(message, TranscriptFinal):
                partial = Text("")
                times = f"[bold][{message.start:7.2f} → {message.end:7.2f}][/bold]"
                speaker = f"[cyan]{message.speaker}:[/cyan] " if message.speaker else ""
                console.print(f"{times} {speaker}{message.text}", soft_wrap=True)
            elif isinstance(message, SessionEnd):
                _print_session_end(console, message)
            elif isinstance(message, EnhancementProgress):
                stage = message.current_stage or "queued"
                live.update(Group(Text(f"enhancing: {stage} {message.progress}%"), ProgressBar(100, message.progress)))
                return
            elif isinstance(message, EnhancementCompleted):
                live.update(Text(""))
                print_speaker_transcript(console, message.transcript)
                return
            elif isinstance(message, EnhancementFailed):
                console.print(f"[red]enhancement failed[/red]: {message.error}")
            live.update(partial)

        result = await stream_audio(
            stream_url(base_url, query), encode_audio(audio, AudioEncoding.PCM_S16LE),
            bytes_per_second=32000, speed=speed, on_message=show,
            reply_timeout_s=ENHANCEMENT_TIMEOUT_S if query.get("enhance_wait") else 120.0,
            api_key=api_key,
        )
    for error in result.of_type(ErrorMessage):
        console.print(f"[red]error[/red] {error.code}: {error.message}")
    return result


def _partial_text(message: TranscriptPartial) -> Text:
    """A partial as shown live: its committed words plain, the tentative rest dim and italic."""
    stable = message.stable_text or ""
    if not message.text.startswith(stable):
        stable = ""
    text = Text(stable)
    text.append(message.text[len(stable) :], style="dim italic")
    return text


def _print_session_end(console: Console, end: SessionEnd) -> None:
    console.print(f"\nsession {end.session_id}: {end.total_audio_seconds:.1f} s of audio", soft_wrap=True)
    if end.audio_uri:
        console.print(f"audio: {end.audio_uri}", soft_wrap=True)
    if end.enhancement_job_id:
        console.print(f"enhancement job: {end.enhancement_job_id}", soft_wrap=True)


def print_speaker_transcript(console: Console, transcript: Transcript) -> None:
    """The enhanced transcript, one line per speaker turn: ``[start → end] Oliver: text``."""
    names = speaker_names(transcript)
    for speaker in transcript.speakers:  # a diarized live session: which live label each speaker had
        if speaker.live_label and speaker.id in names:
            names[speaker.id] = f"{names[speaker.id]} ({speaker.live_label})"
    console.print("\n[bold]Enhanced transcript[/bold]")
    turns: list[list] = []
    for segment in transcript.segments:
        speaker = names.get(segment.speaker or "", "")
        if turns and turns[-1][2] == speaker:
            turns[-1][1] = segment.end
            turns[-1][3].append(segment.text)
        else:
            turns.append([segment.start, segment.end, speaker, [segment.text]])
    for start, end, speaker, texts in turns:
        label = f"[cyan]{speaker}:[/cyan] " if speaker else ""
        console.print(f"[bold][{start:7.2f} → {end:7.2f}][/bold] {label}{' '.join(texts)}", soft_wrap=True)
