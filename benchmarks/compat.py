"""Compatible front doors (issue 24): what a synchronous OpenAI / ElevenLabs call costs over a native job.

Starts the bundled Triton and a ``tandem serve`` with one worker, then for the tests' 4-line
conversation and the 12-line meeting times, wall clock from request to answer (median of ``--runs``):
a native job (``POST /v1/audio/transcriptions`` → 201, then polling until completed), the OpenAI SDK's
``whisper-1`` json (synchronous: prepare + transcribe only), ``gpt-4o-transcribe-diarize``
``diarized_json`` (with the diarization stage) and the ElevenLabs SDK's ``convert`` without
diarization, each with the WER of its text. Then the realtime doors: the conversation streamed in
real time (100 ms chunks) over the native socket, OpenAI's realtime socket (24 kHz base64) and
ElevenLabs' (VAD commit), each utterance's final (``transcript.final`` / ``….completed`` /
``committed_transcript``) timed from the moment its speech ended in the sent audio.

    python -m benchmarks.compat
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openai
import soxr
import typer
import websockets
from elevenlabs import ElevenLabs

from benchmarks.samplers import machine
from benchmarks.speech import MEETING, SAMPLE_RATE, conversation, word_error_rate
from benchmarks.stack import MODEL_REPOSITORY, Stack
from clients.jobs_client import upload, wait_for_status, wav_bytes

RESULTS = Path(__file__).resolve().parent / "results" / "compat.json"


def _native(base_url: str, wav: bytes) -> str:
    job_id = upload(base_url, wav).json()["id"]
    return wait_for_status(base_url, job_id, timeout_s=600).get("text", "")


def _time(call: Callable[[], str], runs: int) -> tuple[float, str]:
    times, text = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        text = call()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 2), text


CHUNK_S = 0.1


def _pcm16(audio: np.ndarray, sample_rate: int) -> bytes:
    resampled = soxr.resample(audio, SAMPLE_RATE, sample_rate) if sample_rate != SAMPLE_RATE else audio
    return (np.clip(resampled, -1, 1) * 32767).astype("<i2").tobytes()


REALTIME_DOORS: dict[str, tuple[str, int, Callable[[bytes], str | bytes], Callable[[dict], bool]]] = {
    "native": (
        "/v1/audio/transcriptions/stream?sample_rate=16000",
        16000,
        lambda chunk: chunk,
        lambda m: m.get("type") == "transcript.final",
    ),
    "OpenAI realtime": (
        "/v1/realtime?intent=transcription",
        24000,
        lambda chunk: json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}),
        lambda m: m.get("type") == "conversation.item.input_audio_transcription.completed",
    ),
    "ElevenLabs realtime (VAD commit)": (
        "/v1/speech-to-text/realtime?commit_strategy=vad&audio_format=pcm_16000",
        16000,
        lambda chunk: json.dumps(
            {"message_type": "input_audio_chunk", "audio_base_64": base64.b64encode(chunk).decode()}
        ),
        lambda m: m.get("message_type") == "committed_transcript",
    ),
}


async def _final_delays(ws_url: str, clip, door: str) -> list[float]:
    """Seconds from each utterance's speech end (in the audio sent at real-time pace) to its final."""
    path, rate, frame, is_final = REALTIME_DOORS[door]
    data = _pcm16(clip.audio, rate)
    step = int(rate * CHUNK_S) * 2
    arrivals: list[float] = []
    async with websockets.connect(ws_url + path) as socket:
        started = time.perf_counter()

        async def receive() -> None:
            async for text in socket:
                if is_final(json.loads(text)):
                    arrivals.append(time.perf_counter() - started)
                if len(arrivals) == len(clip.utterances):
                    return

        receiver = asyncio.create_task(receive())
        for index, offset in enumerate(range(0, len(data), step)):
            await asyncio.sleep(max(0.0, started + index * CHUNK_S - time.perf_counter()))
            await socket.send(frame(data[offset : offset + step]))
        await asyncio.wait_for(receiver, 60)
    return [round(arrival - u.speech_end_s, 3) for arrival, u in zip(arrivals, clip.utterances)]


def main(runs: int = typer.Option(3, help="Calls per door and clip (the median is reported).")) -> None:
    clips = {"4-line conversation": conversation(), "12-line meeting": conversation(MEETING)}
    rows, realtime = [], []
    with tempfile.TemporaryDirectory() as work:
        stack = Stack(MODEL_REPOSITORY, Path(work), workers=1)
        server = stack.server
        try:
            oa = openai.OpenAI(base_url=f"{server.http_url}/v1", api_key="x", timeout=600, max_retries=0)
            el = ElevenLabs(base_url=server.http_url, api_key="x", timeout=600)
            for door in REALTIME_DOORS:
                delays = asyncio.run(_final_delays(server.ws_url, clips["4-line conversation"], door))
                realtime.append(
                    {"door": door, "final_after_speech_end_s": delays, "median_s": round(statistics.median(delays), 3)}
                )
                print(realtime[-1], flush=True)
            for name, clip in clips.items():
                wav = wav_bytes(clip.audio)
                doors = {
                    "native job (201 + polling)": lambda wav=wav: _native(server.http_url, wav),
                    "OpenAI whisper-1 json": lambda wav=wav: (
                        oa.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav)).text
                    ),
                    "OpenAI gpt-4o-transcribe-diarize diarized_json": lambda wav=wav: (
                        oa.audio.transcriptions.create(
                            model="gpt-4o-transcribe-diarize", file=("a.wav", wav), response_format="diarized_json"
                        ).text
                    ),
                    "ElevenLabs convert": lambda wav=wav: (
                        el.speech_to_text.convert(model_id="scribe_v1", file=("a.wav", wav)).text
                    ),
                }
                for door, call in doors.items():
                    seconds, text = _time(call, runs)
                    row = {
                        "clip": name,
                        "audio_s": round(clip.duration_s, 1),
                        "door": door,
                        "median_s": seconds,
                        "wer": round(word_error_rate(clip.text, text), 3),
                    }
                    rows.append(row)
                    print(row, flush=True)
        finally:
            stack.close()
    report = {
        "machine": machine(),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "runs": runs,
        "rows": rows,
        "realtime": realtime,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print("| clip | audio (s) | door | request → answer, median (s) | WER |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['clip']} | {row['audio_s']} | {row['door']} | {row['median_s']} | {row['wer']} |")
    print("| realtime door | final after speech end, median (s) | per utterance (s) |")
    print("|---|---|---|")
    for row in realtime:
        print(f"| {row['door']} | {row['median_s']} | {row['final_after_speech_end_s']} |")


if __name__ == "__main__":
    typer.run(main)
