"""CPU seconds per enhancement stage against plain faster-whisper, on the 4-voice espeak meeting or a WAV.

Starts Triton, one ``tandem serve`` and one worker, uploads the audio as a diarized job (once to warm
the worker, then ``--jobs`` times, the median reported) and
reads the CPU seconds each Triton model's processes used (``vad`` → speech regions, ``batch_asr`` →
transcribe, ``speaker_embedding`` → diarize, ``speaker_overlap`` → overlapped speech) and the
worker's own (decoding, clustering, merge), next to the job's stage wall times. Plain
faster-whisper (``beam_size=5``, word times, same model, compute type and threads) runs on the
same audio in this process. CPU seconds hardly depend on what else runs on the machine; wall
times do (the load average is recorded).

    python -m benchmarks.stage_cpu
    TANDEM_BATCH_PROMPT_MODE=previous python -m benchmarks.stage_cpu --audio call2_s0.wav --jobs 3
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import soundfile
import typer

from benchmarks.baseline import ratio
from benchmarks.conversations import make_conversation
from benchmarks.samplers import machine, per_triton_model, tree_cpu_seconds
from benchmarks.speech import word_error_rate
from benchmarks.stack import DEFAULT_OUTPUT_DIR, MODEL_REPOSITORY, Stack, config_parameters
from clients.jobs_client import upload, wait_for_status, wav_bytes
from core.settings import load_settings
from launchers.triton_server import model_weights_path
from pipelines.job_state import SAMPLE_RATE

STAGE_MODELS = {
    "speech_regions": "vad",
    "transcribe": "batch_asr",
    "diarize": "speaker_embedding",
    "overlapped_speech": "speaker_overlap",
}

app = typer.Typer(add_completion=False)


def model_cpu_seconds(triton_pid: int) -> dict[str, float]:
    """CPU seconds so far of each Python-backend model's stub processes (``…/<model>/1/model.py``)."""
    return per_triton_model(triton_pid, lambda process: sum(process.cpu_times()[:2]))


def faster_whisper_cpu(audio, model_path: str, cpu_threads: int) -> dict:
    """Plain faster-whisper on ``audio`` in this process: CPU and wall seconds (load excluded), text."""
    from faster_whisper import WhisperModel

    model = WhisperModel(model_weights_path(model_path), device="cpu", compute_type="int8", cpu_threads=cpu_threads)
    cpu_before, wall_before = time.process_time(), time.monotonic()
    segments, _ = model.transcribe(audio, word_timestamps=True, beam_size=5)
    text = " ".join(segment.text.strip() for segment in segments)
    return {
        "cpu_s": round(time.process_time() - cpu_before, 2),
        "wall_s": round(time.monotonic() - wall_before, 2),
        "text": text,
    }


@dataclass(frozen=True)
class _Recording:
    audio: np.ndarray
    text: str | None


def _recording(audio: Path | None, voices: int) -> _Recording:
    """The WAV at ``audio`` (16 kHz mono, its reference text from a ``.txt`` beside it if there), or the
    espeak meeting of ``voices`` voices."""
    if audio is None:
        meeting = make_conversation(voices, seed=voices)
        return _Recording(meeting.audio, " ".join(word.text for word in meeting.words))
    samples, rate = soundfile.read(audio, dtype="float32")
    if rate != SAMPLE_RATE or samples.ndim != 1:
        raise typer.BadParameter(f"{audio} must be 16 kHz mono, not {rate} Hz with {samples.ndim} dimension(s)")
    text = audio.with_suffix(".txt")
    return _Recording(samples, text.read_text().strip() if text.exists() else None)


def _one_job(stack: Stack, recording: _Recording, triton_pid: int, worker_pid: int) -> dict:
    """One diarized job of ``recording``: CPU seconds per stage, stage and job wall times, text."""
    models_before, worker_before = model_cpu_seconds(triton_pid), tree_cpu_seconds(worker_pid)
    load_before, started = os.getloadavg(), time.monotonic()
    response = upload(stack.server.http_url, wav_bytes(recording.audio), speaker_detection="diarize")
    response.raise_for_status()
    job = wait_for_status(stack.server.http_url, response.json()["id"], timeout_s=900)
    job_wall_s = time.monotonic() - started
    models_after, worker_after = model_cpu_seconds(triton_pid), tree_cpu_seconds(worker_pid)
    return {
        "status": job["status"],
        "load_average_before": [round(x, 2) for x in load_before],
        "cpu_s": {
            stage: round(models_after.get(model, 0.0) - models_before.get(model, 0.0), 2)
            for stage, model in STAGE_MODELS.items()
        }
        | {"worker": round(worker_after - worker_before, 2)},
        "stage_wall_s": {stage["name"]: round(stage["duration_ms"] / 1000, 2) for stage in job["stages"]},
        "job_wall_s": round(job_wall_s, 2),
        "text": job.get("text", ""),
    }


@app.command()
def main(
    voices: Annotated[int, typer.Option(help="Voices of the espeak meeting.")] = 4,
    audio: Annotated[
        Path | None, typer.Option(help="A 16 kHz WAV instead of the espeak meeting (its text beside it: .txt).")
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Warm jobs timed after the first (the median is reported).")] = 1,
    output: Annotated[Path, typer.Option(help="Where the JSON goes.")] = DEFAULT_OUTPUT_DIR / "stage_cpu.json",
) -> None:
    """Diarized jobs (the first pays the worker's imports): CPU seconds per stage of the warm ones,
    and the ratio to plain faster-whisper (run after the stack is closed, alone on the machine)."""
    recording = _recording(audio, voices)
    parameters = config_parameters((MODEL_REPOSITORY / "batch_asr" / "config.pbtxt").read_text())
    with tempfile.TemporaryDirectory() as work:
        stack = Stack(MODEL_REPOSITORY, Path(work), workers=1)
        try:
            triton_pid, worker_pid = stack.triton._process.pid, stack.workers[0].pid  # noqa: SLF001
            first, *warm_runs = [_one_job(stack, recording, triton_pid, worker_pid) for _ in range(1 + jobs)]
        finally:
            stack.close()
    baseline = faster_whisper_cpu(recording.audio, parameters["model_path"], int(parameters.get("cpu_threads", "2")))
    warm = sorted(warm_runs, key=lambda run: run["job_wall_s"])[len(warm_runs) // 2]
    cpu_s = warm["cpu_s"]
    total_cpu_s = round(sum(cpu_s.values()), 2)
    report = {
        "benchmark": "stage_cpu",
        "machine": machine(),
        "audio": str(audio) if audio else f"espeak meeting of {voices} voices",
        "audio_s": round(len(recording.audio) / SAMPLE_RATE, 1),
        "batch_prompt_mode": load_settings().batch_prompt_mode.value,
        "first_job": first,
        "warm_job": warm,
        "warm_job_walls_s": [run["job_wall_s"] for run in warm_runs],
        "job_cpu_s": total_cpu_s,
        "faster_whisper": {key: value for key, value in baseline.items() if key != "text"},
        "cpu_over_faster_whisper": {stage: ratio(value, baseline["cpu_s"]) for stage, value in cpu_s.items()}
        | {"job": ratio(total_cpu_s, baseline["cpu_s"])},
        "wall_over_faster_whisper": ratio(warm["job_wall_s"], baseline["wall_s"]),
        "wer": {
            "job": round(word_error_rate(recording.text, warm["text"]), 4) if recording.text else None,
            "faster_whisper": round(word_error_rate(recording.text, baseline["text"]), 4) if recording.text else None,
        },
    }
    for run in [first, *warm_runs]:
        run.pop("text", None)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app()
