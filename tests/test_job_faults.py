"""Faults a job must survive or report: a worker killed mid-job, Triton unreachable, cancel while running."""

from __future__ import annotations

import httpx

from benchmarks.speech import word_error_rate
from clients.jobs_client import JOBS_PATH as JOBS
from clients.jobs_client import upload, wait_for_status, wav_bytes
from launchers.serve_process import ServeProcess
from launchers.triton_server import free_port
from launchers.worker_processes import WorkerProcess
from tests.stack_fixtures import start_worker


def test_job_of_a_killed_worker_is_run_again_and_completes(idle_server: ServeProcess, speech, long_speech) -> None:
    job_id = upload(idle_server.http_url, wav_bytes(long_speech)).json()["id"]
    doomed = start_worker(idle_server, "doomed")
    try:
        running = wait_for_status(idle_server.http_url, job_id, {"running", "completed", "failed"})
        assert running["status"] == "running", running
        doomed.kill()  # SIGKILL mid-job: no cleanup of any kind runs
        assert httpx.get(f"{idle_server.http_url}{JOBS}/{job_id}").json()["status"] == "running"
    finally:
        doomed.kill()
    rescuer = start_worker(idle_server, "rescuer")
    try:
        job = wait_for_status(idle_server.http_url, job_id)
    finally:
        rescuer.stop()
    assert job["status"] == "completed", (job, rescuer.log()[-3000:])
    assert word_error_rate(" ".join([speech.text] * 4), job["text"]) < 0.15
    assert "job.abandoned" in rescuer.log()


def test_unreachable_triton_is_retried_then_fails_the_job_clearly(idle_server: ServeProcess, speech) -> None:
    environment = dict(idle_server.environment, TANDEM_TRITON_RETRY_S="2")
    dead_triton = f"127.0.0.1:{free_port()}"
    worker = WorkerProcess(dead_triton, idle_server.data_dir / "dead-triton.log", environment)
    try:
        job_id = upload(idle_server.http_url, wav_bytes(speech.audio[: 16000 * 3])).json()["id"]
        job = wait_for_status(idle_server.http_url, job_id, timeout_s=60)
    finally:
        worker.stop()
    assert job["status"] == "failed"
    assert job["error"].startswith("transcribe failed: the model server is unreachable")
    stages = {stage["name"]: stage for stage in job["stages"]}
    assert stages["prepare"]["status"] == "completed"
    assert stages["transcribe"]["status"] == "failed" and stages["transcribe"]["duration_ms"] >= 2000
    assert "merge" not in stages


def test_cancel_while_running_stops_at_the_next_stage(idle_server: ServeProcess, long_speech) -> None:
    job_id = upload(idle_server.http_url, wav_bytes(long_speech)).json()["id"]
    worker = start_worker(idle_server)
    try:
        wait_for_status(idle_server.http_url, job_id, {"running", "completed", "failed"})
        cancel = httpx.post(f"{idle_server.http_url}{JOBS}/{job_id}/cancel")
        assert cancel.status_code == 200 and cancel.json()["status"] in ("running", "cancelled")
        job = wait_for_status(idle_server.http_url, job_id)
        other = upload(idle_server.http_url, wav_bytes(long_speech[: 16000 * 3])).json()["id"]
        assert wait_for_status(idle_server.http_url, other)["status"] == "completed"  # the worker carries on
    finally:
        worker.stop()
    assert job["status"] == "cancelled" and job["completed_at"]
    assert "persist" not in {stage["name"] for stage in job["stages"]}
    assert httpx.get(f"{idle_server.http_url}{JOBS}/{job_id}/export/txt").status_code == 409
    assert httpx.post(f"{idle_server.http_url}{JOBS}/{job_id}/cancel").status_code == 409
