"""One level of the batch benchmark: N jobs of a meeting through the stack, timed per stage, with WER and memory."""

from __future__ import annotations

import os
import statistics
import time

from benchmarks.meetings import Meeting
from benchmarks.samplers import RssSampler
from benchmarks.speech import word_error_rate
from benchmarks.stack import Stack
from clients.jobs_client import upload, wait_for_status, wav_bytes

STAGES = ("prepare", "transcribe", "diarize", "merge", "persist")


def stage_rtfs(job: dict, audio_s: float) -> dict[str, float]:
    """Real-time factor of each completed stage of a job body (``duration_ms`` / audio length)."""
    return {
        stage["name"]: stage["duration_ms"] / 1000 / audio_s
        for stage in job.get("stages", [])
        if stage.get("duration_ms") is not None
    }


def jobs_per_minute(jobs: int, wall_s: float) -> float:
    return 60.0 * jobs / wall_s if wall_s > 0 else float("nan")


def run_jobs(stack: Stack, meeting: Meeting, count: int, **fields: str) -> dict:
    """``count`` diarized jobs of ``meeting`` uploaded at once; timings, RTFs, WER, memory."""
    data = wav_bytes(meeting.audio)
    load_before = os.getloadavg()
    with RssSampler(stack.rss_roots()) as memory:
        started = time.monotonic()
        job_ids = []
        for _ in range(count):
            response = upload(stack.server.http_url, data, speaker_detection="diarize", **fields)
            response.raise_for_status()
            job_ids.append(response.json()["id"])
        finished: dict[str, float] = {}
        bodies: dict[str, dict] = {}
        timeout_s = 600 + 3 * meeting.duration_s * count
        while len(bodies) < count:
            for job_id in job_ids:
                if job_id not in bodies:
                    body = wait_for_status(stack.server.http_url, job_id, timeout_s=timeout_s)
                    finished[job_id] = time.monotonic() - started
                    bodies[job_id] = body
        wall_s = max(finished.values())
    completed = {j: b for j, b in bodies.items() if b["status"] == "completed"}
    errors = sorted({b.get("error") or b["status"] for b in bodies.values() if b["status"] != "completed"})
    rtfs = [stage_rtfs(body, meeting.duration_s) for body in completed.values()]
    end_to_end = [finished[j] / meeting.duration_s for j in completed]

    def mean(values: list[float]) -> float | None:
        return round(statistics.fmean(values), 4) if values else None

    return {
        "audio_s": round(meeting.duration_s, 1),
        "jobs": count,
        "failed": count - len(completed),
        "errors": errors,
        "wall_s": round(wall_s, 2),
        "jobs_per_minute": round(jobs_per_minute(len(completed), wall_s), 3),
        "rtf_end_to_end_mean": mean(end_to_end),
        "rtf_stage_mean": {
            name: round(statistics.fmean(r.get(name, 0.0) for r in rtfs), 4)
            for name in STAGES
            if any(name in r for r in rtfs)
        },
        "wer_mean": mean([word_error_rate(meeting.text, b.get("text", "")) for b in completed.values()]),
        "speakers": [len(b.get("speakers") or []) for b in completed.values()],
        "text_of_first_job": next(iter(completed.values()), {}).get("text", ""),
        "peak_rss_mb": {name: round(value, 1) for name, value in memory.peak_mb.items()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
