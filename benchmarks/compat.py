"""Compatible front doors (issue 24): what a synchronous OpenAI / ElevenLabs call costs over a native job.

Starts the bundled Triton and a ``tandem serve`` with one worker, then for the tests' 4-line
conversation and the 12-line meeting times, wall clock from request to answer (median of ``--runs``):
a native job (``POST /v1/audio/transcriptions`` → 201, then polling until completed), the OpenAI SDK's
``whisper-1`` json (synchronous: prepare + transcribe only), ``gpt-4o-transcribe-diarize``
``diarized_json`` (with the diarization stage) and the ElevenLabs SDK's ``convert`` without
diarization, each with the WER of its text.

    python -m benchmarks.compat
"""

from __future__ import annotations

import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import soundfile
import typer
from elevenlabs import ElevenLabs

from benchmarks.batch import machine
from benchmarks.speech import MEETING, SAMPLE_RATE, conversation, word_error_rate
from launchers.serve_process import ServeProcess
from launchers.triton_server import TritonServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "compat.json"


def _wav(audio) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _native(base_url: str, wav: bytes) -> str:
    job_id = httpx.post(f"{base_url}/v1/audio/transcriptions", files={"file": ("a.wav", wav)}, timeout=60).json()["id"]
    while (job := httpx.get(f"{base_url}/v1/audio/transcriptions/{job_id}", timeout=10).json())["status"] not in (
        "completed",
        "failed",
    ):
        time.sleep(0.1)
    return job.get("text", "")


def _time(call: Callable[[], str], runs: int) -> tuple[float, str]:
    times, text = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        text = call()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 2), text


def main(runs: int = typer.Option(3, help="Calls per door and clip (the median is reported).")) -> None:
    clips = {"4-line conversation": conversation(), "12-line meeting": conversation(MEETING)}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        triton = TritonServer(PROJECT_ROOT / "model_repository", Path(work) / "triton")
        triton.start()
        server = ServeProcess(Path(work) / "server", triton.endpoints.grpc_url, TANDEM_WORKERS="1")
        try:
            oa = openai.OpenAI(base_url=f"{server.http_url}/v1", api_key="x", timeout=600, max_retries=0)
            el = ElevenLabs(base_url=server.http_url, api_key="x", timeout=600)
            for name, clip in clips.items():
                wav = _wav(clip.audio)
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
            server.stop()
            triton.stop()
    report = {"machine": machine(), "load_average_1m_after": round(os.getloadavg()[0], 2), "runs": runs, "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print("| clip | audio (s) | door | request → answer, median (s) | WER |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['clip']} | {row['audio_s']} | {row['door']} | {row['median_s']} | {row['wer']} |")


if __name__ == "__main__":
    typer.run(main)
