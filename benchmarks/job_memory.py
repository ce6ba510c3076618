"""Peak memory of a job against the length of its upload: the worker's and Triton's process trees.

One Triton, one control plane, one worker (all started here). For each length the espeak
conversation is repeated to fill it and uploaded with diarization on; the resident memory (RSS)
of the worker tree and of the Triton tree is sampled every 0.5 s from just before the upload to
the job's end. Issue 22's goal is a flat peak, not one growing with the upload; the figures show
where it stands. Results go to ``benchmarks/results/job_memory.json``; README lines are printed.

    python -m benchmarks.job_memory --minutes 1 --minutes 10
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Annotated

import httpx
import numpy as np
import soundfile
import typer

from benchmarks.realtime import DEFAULT_OUTPUT_DIR, MODEL_REPOSITORY, console
from benchmarks.soak import RssSampler
from benchmarks.speech import SAMPLE_RATE, conversation
from clients.jobs_client import JOBS_PATH
from launchers.serve_process import ServeProcess
from launchers.triton_server import TritonServer
from launchers.worker_processes import WorkerProcess

SAMPLE_EVERY_S = 0.5


def main(
    minutes: Annotated[list[float], typer.Option(help="Upload lengths in minutes (repeat the option).")] = [  # noqa: B006
        1.0, 10.0,
    ],
    output_dir: Annotated[Path, typer.Option(help="Where job_memory.json goes.")] = DEFAULT_OUTPUT_DIR,
) -> None:
    speech = conversation().audio
    runs = []
    with tempfile.TemporaryDirectory(prefix="tandem-job-memory-") as work:
        work_dir = Path(work)
        with TritonServer(MODEL_REPOSITORY, work_dir / "triton") as triton:
            server = ServeProcess(work_dir / "server", triton.endpoints.grpc_url)
            worker = WorkerProcess(triton.endpoints.grpc_url, work_dir / "worker.log", server.environment)
            try:
                for length in minutes:
                    runs.append(_measure(server, worker, triton, speech, length))
                    console.print(runs[-1])
            finally:
                worker.stop()
                server.stop()
    report = {"date": _dt.date.today().isoformat(), "sample_every_s": SAMPLE_EVERY_S, "runs": runs}
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "job_memory.json").write_text(json.dumps(report, indent=2) + "\n")
    for run in runs:
        console.print(
            f"| {run['minutes']:g} min | {run['worker_peak_mb']:.0f} MB (+{run['worker_growth_mb']:.0f}) |"
            f" {run['triton_peak_mb']:.0f} MB (+{run['triton_growth_mb']:.0f}) | {run['job_s']:.0f} s |"
            f" {run['status']} |"
        )


def _measure(
    server: ServeProcess, worker: WorkerProcess, triton: TritonServer, speech: np.ndarray, minutes: float
) -> dict:
    samples = int(minutes * 60 * SAMPLE_RATE)
    audio = np.resize(speech, samples)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    trees = {"worker": worker.pid, "triton": triton._process.pid}  # noqa: SLF001
    with RssSampler(trees, every_s=SAMPLE_EVERY_S) as sampler:
        time.sleep(2 * SAMPLE_EVERY_S)  # the baseline before the upload
        started = time.monotonic()
        upload = httpx.post(
            f"{server.http_url}{JOBS_PATH}", files={"file": ("audio.wav", buffer.getvalue())},
            data={"speaker_detection": "diarize"}, timeout=600,
        )
        upload.raise_for_status()
        job = _wait_until_finished(server.http_url, upload.json()["id"])
        job_s = time.monotonic() - started
    baseline = sampler.samples[0]
    peak = {tree: max(sample[f"{tree}_rss_mb"] for sample in sampler.samples) for tree in trees}
    return {
        "minutes": minutes,
        "status": job["status"],
        "job_s": round(job_s, 1),
        **{f"{tree}_baseline_mb": baseline[f"{tree}_rss_mb"] for tree in trees},
        **{f"{tree}_peak_mb": peak[tree] for tree in trees},
        **{f"{tree}_growth_mb": round(peak[tree] - baseline[f"{tree}_rss_mb"], 1) for tree in trees},
    }


def _wait_until_finished(base_url: str, job_id: str) -> dict:
    while (job := httpx.get(f"{base_url}{JOBS_PATH}/{job_id}", timeout=30).json())["status"] in ("pending", "running"):
        time.sleep(1)
    return job


if __name__ == "__main__":
    typer.run(main)
