"""WhisperLive 0.10.0 (collabora) as the peer of ``benchmarks/realtime.py --peer whisperlive``.

Installs WhisperLive into its own virtualenv (the recipe of ``../shared/ANCHORS.md``: its other
requirements — PyAudio, OpenVINO, CUDA wheels — are not used by the faster_whisper WebSocket path),
serves it on loopback with Tandem's live model (``model_repository/streaming_asr``'s weights) as its
own ``run_server.py`` would (one shared model, VAD on, ``OMP_NUM_THREADS=1``), and streams the same
audio at the same pace. Its messages are turned into Tandem's (``transcript.partial`` for the open
segment, ``transcript.final`` when a segment first arrives completed), so both sides are scored by
the same functions (``benchmarks/live_scoring.py``). WhisperLive serves at most ``max_clients`` (4 by
default) at once; further clients get ``WAIT`` and are reported as refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import websockets

from benchmarks.speech import SAMPLE_RATE, SpeechClip
from clients.stream_client import ReceivedMessage, StreamResult
from core.protocol import TranscriptFinal, TranscriptPartial
from launchers.triton_server import free_port

VERSION = "0.10.0"
REQUIREMENTS = (
    ["--no-deps", f"whisper-live=={VERSION}"],
    ["faster-whisper", "tokenizers==0.20.3", "numpy<2.5", "websockets", "fastapi", "uvicorn", "python-multipart",
     "torch==2.13.0"],
)
END_OF_AUDIO = b"END_OF_AUDIO"


def ensure_virtualenv(venv: Path) -> Path:
    """The virtualenv's python, installing WhisperLive there first if it is not yet."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import whisper_live.server, faster_whisper"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for requirement in REQUIREMENTS:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirement], check=True)
    subprocess.run(check, check=True)
    return python


class WhisperLiveServer:
    """``TranscriptionServer().run(...)`` in a subprocess of the peer's virtualenv."""

    def __init__(self, python: Path, model_path: str, log_path: Path, *, threads: int = 1, max_clients: int = 4):
        self.port = free_port()
        code = (
            "from whisper_live.server import TranscriptionServer\n"
            f"TranscriptionServer().run('127.0.0.1', port={self.port}, backend='faster_whisper', "
            f"faster_whisper_custom_model_path={model_path!r}, single_model=True, max_clients={max_clients})\n"
        )
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
        env.pop("PYTHONPATH", None)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen([str(python), "-c", code], stdout=log, stderr=subprocess.STDOUT, env=env)
        self.url = f"ws://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"WhisperLive exited:\n{log_path.read_text(errors='replace')[-3000:]}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("WhisperLive did not open its port")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def as_tandem_messages(
    segments: list[dict], finished: set[tuple[str, str]]
) -> list[TranscriptPartial | TranscriptFinal]:
    """One WhisperLive message as Tandem messages: a final for each segment completed for the first
    time (``finished`` remembers them), a partial for an open last segment."""
    messages: list[TranscriptPartial | TranscriptFinal] = []
    for index, segment in enumerate(segments):
        text, start, end = segment["text"].strip(), float(segment["start"]), float(segment["end"])
        if segment.get("completed", False):
            key = (segment["start"], segment["text"])
            if key not in finished:
                finished.add(key)
                messages.append(TranscriptFinal(text=text, start=start, end=end, confidence=0.0))
        elif index == len(segments) - 1 and text:
            messages.append(TranscriptPartial(text=text, start=start, end=end))
    return messages


async def stream_to_whisperlive(
    url: str,
    audio: np.ndarray,
    *,
    last_speech_end_s: float,
    frame_s: float = 0.1,
    language: str = "en",
    tail_s: float = 40.0,
    reply_timeout_s: float = 30.0,
) -> StreamResult:
    """Send float32 frames at real-time pace (after ``SERVER_READY``), then silence at the same pace
    until a final reaches ``last_speech_end_s`` (at most ``tail_s``: WhisperLive completes a stream's
    last segment only when its output repeats), then ``END_OF_AUDIO``."""
    result = StreamResult()
    finished: set[tuple[str, str]] = set()
    ready = asyncio.Event()
    async with websockets.connect(url, max_size=None) as connection:
        await connection.send(json.dumps({
            "uid": str(uuid.uuid4()), "language": language, "task": "transcribe", "model": "tiny.en",
            "use_vad": True,
        }))

        async def receive() -> None:
            async for raw in connection:
                arrived = time.monotonic()
                data = json.loads(raw)
                if data.get("message") == "SERVER_READY":
                    ready.set()
                elif data.get("status") == "WAIT":
                    result.close_code = -1  # refused: the server is full
                    return
                for message in as_tandem_messages(data.get("segments", []), finished):
                    result.messages.append(ReceivedMessage(message, arrived))

        receiver = asyncio.create_task(receive())
        done, _ = await asyncio.wait(
            [receiver, asyncio.create_task(ready.wait())], timeout=60, return_when=asyncio.FIRST_COMPLETED
        )
        if not ready.is_set():
            receiver.cancel()
            return result
        frame = int(SAMPLE_RATE * frame_s)
        silence = np.zeros(int(tail_s * SAMPLE_RATE), dtype=np.float32)
        stream = np.concatenate([audio.astype(np.float32), silence])
        result.audio_started_at = time.monotonic()
        for index, offset in enumerate(range(0, len(stream), frame)):
            if offset >= len(audio) and (receiver.done() or _finished(result, last_speech_end_s)):
                break
            await connection.send(stream[offset : offset + frame].astype("<f4").tobytes())
            due = result.audio_started_at + (index + 1) * frame_s
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        if not receiver.done():
            await connection.send(END_OF_AUDIO)
        try:
            await asyncio.wait_for(receiver, timeout=reply_timeout_s)
        except (TimeoutError, websockets.ConnectionClosed):
            receiver.cancel()
        result.close_code = result.close_code or connection.close_code
    return result


def _finished(result: StreamResult, last_speech_end_s: float) -> bool:
    finals = [m.message for m in result.messages if isinstance(m.message, TranscriptFinal)]
    return any(final.end >= last_speech_end_s - 0.5 for final in finals)


async def run_peer_sessions(url: str, clip: SpeechClip, sessions: int) -> list[StreamResult]:
    last_end_s = clip.utterances[-1].speech_end_s
    streams = (stream_to_whisperlive(url, clip.audio, last_speech_end_s=last_end_s) for _ in range(sessions))
    return list(await asyncio.gather(*streams))
