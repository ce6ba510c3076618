"""Chaos, CI-sized: two control planes and three workers on PostgreSQL + S3 take uploads and live
sessions with ``enhance_on_end`` while a worker and a control plane are SIGKILLed and restarted.
Afterwards every job ended with a status that says why, none completed twice, no row is stuck,
and every session's audio plays and its enhancement ended."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from clients.jobs_client import JOBS_PATH as JOBS
from clients.jobs_client import upload, wait_for_status, wav_bytes
from clients.stream_client import encode_audio, stream_audio, stream_url
from core.protocol import AudioEncoding
from launchers.serve_process import ServeProcess
from launchers.worker_processes import WorkerProcess
from tests.conftest import fresh_postgres_schema
from tests.stack_fixtures import start_server, start_worker

SESSIONS = "/v1/audio/transcriptions/stream"
UPLOADS = 6
LIVE_SESSIONS = 2


async def test_uploads_and_sessions_all_end_while_processes_are_killed(
    triton, tmp_path: Path, speech, s3_server: str
) -> None:
    shared = {
        "TANDEM_QUEUE_NAME": f"tandem-chaos-{uuid.uuid4().hex[:8]}",
        "TANDEM_STORAGE_URL": f"s3://tandem-{uuid.uuid4().hex[:12]}",
        "TANDEM_S3_ENDPOINT_URL": s3_server,
        "TANDEM_WORKER_MAINTENANCE_INTERVAL_S": "2",
    }
    with fresh_postgres_schema() as database_url:
        shared["TANDEM_DATABASE_URL"] = database_url
        planes = [start_server(tmp_path / f"plane-{index}", triton.endpoints, **shared) for index in range(2)]
        workers = [start_worker(planes[0], f"worker-{index}") for index in range(3)]
        retired: list[WorkerProcess] = []
        try:
            job_ids = [
                upload(planes[index % 2].http_url, wav_bytes(speech.audio[: 16000 * (3 + index)])).json()["id"]
                for index in range(UPLOADS)
            ]
            session_ends = await asyncio.gather(
                *(_session(planes[index % 2], speech.audio[: 16000 * (4 + index)]) for index in range(LIVE_SESSIONS))
            )
            wait_for_status(planes[0].http_url, job_ids[-1], {"running", "completed", "failed"}, timeout_s=300)
            workers[0].kill()  # mid-work
            retired.append(workers[0])
            workers[0] = start_worker(planes[0], "worker-0-again")
            planes[1].process.send_signal(signal.SIGKILL)
            planes[1].process.wait()
            planes[1] = start_server(tmp_path / "plane-1-again", triton.endpoints, **shared)

            job_ids += [end.enhancement_job_id for end in session_ends]
            for job_id in job_ids:
                job = wait_for_status(planes[job_ids.index(job_id) % 2].http_url, job_id, timeout_s=600)
                assert job["status"] == "completed" or (job["status"] == "failed" and job["error"]), job
            for stuck in ("pending", "running"):
                assert httpx.get(f"{planes[0].http_url}{JOBS}", params={"status": stuck}).json()["jobs"] == []
            for end in session_ends:
                audio = httpx.get(f"{planes[1].http_url}{SESSIONS}/{end.session_id}/audio", timeout=30)
                assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
                enhancement = httpx.get(f"{planes[1].http_url}{SESSIONS}/{end.session_id}/enhancement").json()
                assert enhancement["status"] in ("completed", "failed"), enhancement
            completions = Counter(
                record["job_id"] for worker in workers + retired for record in _log_records(worker.log())
                if record.get("event") == "job.finished" and record.get("status") == "completed"
            )
            assert completions and max(completions.values()) == 1, completions
        finally:
            for worker in workers:
                worker.stop()
            for plane in planes:
                plane.stop()


async def _session(server: ServeProcess, audio: np.ndarray):
    url = stream_url(server.ws_url, {"store_audio": True, "enhance_on_end": True, "language": "en"})
    result = await stream_audio(url, encode_audio(audio, AudioEncoding.PCM_S16LE), bytes_per_second=32000, speed=0)
    assert result.session_end is not None and result.session_end.enhancement_job_id, result.messages[-3:]
    return result.session_end


def _log_records(log: str) -> list[dict]:
    """The worker's structured (JSON) log lines; RQ's own plain lines are skipped."""
    records = []
    for line in log.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records
