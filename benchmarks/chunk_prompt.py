"""Batch ASR: chunks sent together (dynamic batching) vs one after another with the previous
chunk's text as prompt. WER and wall time on the espeak meeting repeated to ``--minutes``, for 1
and 2 concurrent jobs, against the bundled Triton on ``model_repository/``.

    python -m benchmarks.chunk_prompt --minutes 2
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

import numpy as np

from benchmarks.speech import MEETING, conversation, word_error_rate
from core.inference import InferenceClient
from launchers.triton_server import TritonServer
from pipelines.speech_regions import detect_speech
from pipelines.transcribe import transcribe_audio

RESULTS = Path(__file__).parent / "results" / "chunk_prompt.json"


async def _measure(grpc_url: str, minutes: float, repeat: int) -> list[dict]:
    lines = MEETING * max(1, round(minutes * 60 / conversation(MEETING).duration_s))
    clip = conversation(lines)
    client = InferenceClient(grpc_url, timeout_s=600)
    regions = await detect_speech(clip.audio, client)
    rows = []
    for jobs in (1, 2):
        for use_prompt in (False, True):
            walls, wers = [], []
            for _ in range(repeat):
                started = time.monotonic()
                results = await asyncio.gather(*(
                    transcribe_audio(clip.audio, client, language="en", use_prompt=use_prompt, speech_regions=regions)
                    for _ in range(jobs)
                ))
                walls.append(time.monotonic() - started)
                wers.append(word_error_rate(clip.text, " ".join(s.text for s in results[0])))
            rows.append({
                "jobs": jobs,
                "use_prompt": use_prompt,
                "audio_s": round(clip.duration_s, 1),
                "wall_s_median": round(float(np.median(walls)), 2),
                "wer": round(float(np.mean(wers)), 4),
            })
            print(rows[-1], flush=True)
    await client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with TritonServer(Path(__file__).resolve().parent.parent / "model_repository", Path(tempfile.mkdtemp())) as server:
        rows = asyncio.run(_measure(server.endpoints.grpc_url, args.minutes, args.repeat))
    machine = {"machine": platform.platform(), "cpus": os.cpu_count()}
    RESULTS.write_text(json.dumps({**machine, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
