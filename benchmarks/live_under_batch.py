"""Live ASR latency while a batch job runs: does ``batch_asr``'s ``nice`` keep live work first?

For each ``nice`` value, starts the bundled Triton on a copy of ``model_repository/`` with that
value in ``batch_asr``'s config, measures ``streaming_asr`` final decodes of one espeak sentence
(idle, then back to back while a ~2 minute batch job runs) and writes
``benchmarks/results/live_under_batch.json``.

    python -m benchmarks.live_under_batch --nice 10,0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.speech import CONVERSATION, MEETING, conversation
from core.inference import STREAMING_ASR_MODEL, InferenceClient
from launchers.triton_server import TritonServer
from pipelines.transcribe import transcribe_audio

MODEL_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"
RESULTS = Path(__file__).parent / "results" / "live_under_batch.json"


async def _live_latencies_s(client: InferenceClient, audio: np.ndarray, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.monotonic()
        await client.transcribe(audio, word_timestamps=True, language="en", final=True, model=STREAMING_ASR_MODEL)
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.2)
    return latencies


async def _measure(grpc_url: str, nice: int) -> dict:
    sentence = conversation(CONVERSATION[:1], lead_silence_s=0.2, tail_silence_s=0.2).audio
    meeting = conversation(MEETING * 3)
    client = InferenceClient(grpc_url, timeout_s=300)
    await _live_latencies_s(client, sentence, 3)  # warm-up
    idle = await _live_latencies_s(client, sentence, 10)
    started = time.monotonic()
    job = asyncio.create_task(transcribe_audio(meeting.audio, client, language="en"))
    busy: list[float] = []
    while not job.done():
        busy += await _live_latencies_s(client, sentence, 1)
    await job
    job_s = time.monotonic() - started
    await client.close()
    return {
        "nice": nice,
        "live_idle_median_ms": round(statistics.median(idle) * 1000),
        "live_during_batch_median_ms": round(statistics.median(busy) * 1000),
        "live_during_batch_max_ms": round(max(busy) * 1000),
        "batch_job_s": round(job_s, 2),
        "batch_audio_s": round(meeting.duration_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nice", default="10,0", help="comma-separated nice values of batch_asr")
    args = parser.parse_args()
    rows = []
    for nice in (int(n) for n in args.nice.split(",")):
        work = Path(tempfile.mkdtemp())
        repository = work / "model_repository"
        shutil.copytree(MODEL_REPOSITORY, repository)
        config = repository / "batch_asr" / "config.pbtxt"
        text = config.read_text()
        default = 'key: "nice" value: { string_value: "10" }'
        config.write_text(text.replace(default, default.replace('"10"', f'"{nice}"')))
        with TritonServer(repository, work / "triton") as server:
            rows.append(asyncio.run(_measure(server.endpoints.grpc_url, nice)))
        shutil.rmtree(work, ignore_errors=True)
        print(rows[-1], flush=True)
    RESULTS.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
