"""Every accepted job ends: past its time limit, after its workers kept dying, and never twice.

Real processes throughout: ``tandem serve``, ``tandem worker`` (RQ on the shared Redis), Triton.
"""

from __future__ import annotations

import http.server
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from standardwebhooks import Webhook

from clients.jobs_client import JOBS_PATH as JOBS
from clients.jobs_client import upload, wait_for_status, wav_bytes
from core.persistence import jobs as repository
from core.persistence.database import Database
from core.persistence.jobs import JobSource
from core.persistence.states import JobStatus
from launchers.serve_process import ServeProcess
from launchers.triton_server import free_port
from launchers.worker_processes import WorkerProcess
from tests.stack_fixtures import start_server, start_worker

WEBHOOK_SECRET = "whsec_" + "dGFuZGVtLXRlc3Qtc2VjcmV0LXRhbmRlbS10ZXN0LXNl"


def _worker(server: ServeProcess, name: str, **settings: str) -> WorkerProcess:
    environment = dict(server.environment, **settings)
    return WorkerProcess(environment["TANDEM_TRITON_GRPC_URL"], server.data_dir / f"{name}.log", environment)


def test_a_job_past_its_time_limit_fails_with_the_reason_and_the_worker_goes_on(
    triton, tmp_path, speech, long_speech
) -> None:
    server = start_server(tmp_path, triton.endpoints, TANDEM_JOB_TIMEOUT_S="3")  # the limit goes with the message
    worker = start_worker(server)
    try:
        job_id = upload(server.http_url, wav_bytes(long_speech)).json()["id"]
        job = wait_for_status(server.http_url, job_id, timeout_s=120)
        assert job["status"] == "failed", (job, worker.log()[-3000:])
        assert job["error"] == "the job ran longer than its limit of 3 s (TANDEM_JOB_TIMEOUT_S)"
        assert job["completed_at"]
        with httpx.stream("GET", f"{server.http_url}{JOBS}/{job_id}/events", timeout=10) as events:
            assert "event: failed" in events.read().decode()  # the SSE stream ends
        short = upload(server.http_url, wav_bytes(speech.audio[: 16000 * 2])).json()["id"]
        assert wait_for_status(server.http_url, short)["status"] in ("completed", "failed")  # 3 s: load decides
        assert worker.running() and any("job.started" in line and short in line for line in worker.log().splitlines())
    finally:
        worker.stop()
        server.stop()


class _WebhookReceiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        self.server.events.put((dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook_receiver() -> Iterator[http.server.ThreadingHTTPServer]:
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _WebhookReceiver)
    receiver.events = queue.Queue()  # type: ignore[attr-defined]
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    yield receiver
    receiver.shutdown()


def test_a_job_whose_workers_keep_dying_fails_after_the_allowed_attempts_and_says_so(
    triton, tmp_path, long_speech, webhook_receiver
) -> None:
    server = start_server(
        tmp_path, triton.endpoints, TANDEM_WEBHOOK_SECRET=WEBHOOK_SECRET, TANDEM_WEBHOOK_ALLOW_PRIVATE="true"
    )
    attempts = {"TANDEM_JOB_MAX_ATTEMPTS": "2"}
    hook = f"http://127.0.0.1:{webhook_receiver.server_port}/hook"
    try:
        job_id = upload(server.http_url, wav_bytes(long_speech), webhook_url=hook).json()["id"]
        for attempt in (1, 2):
            doomed = _worker(server, f"doomed-{attempt}", **attempts)
            try:
                _wait_for_log(doomed, "job.started")
                assert httpx.get(f"{server.http_url}{JOBS}/{job_id}").json()["status"] == "running"
            finally:
                doomed.kill()
        last = _worker(server, "last", **attempts)
        try:
            job = wait_for_status(server.http_url, job_id, timeout_s=120)
            assert job["status"] == "failed", (job, last.log()[-3000:])
            assert job["error"] == "worker died 2 times on this job"
            headers, body = webhook_receiver.events.get(timeout=60)  # type: ignore[attr-defined]
        finally:
            last.stop()
    finally:
        server.stop()
    event = Webhook(WEBHOOK_SECRET).verify(body, {key.lower(): value for key, value in headers.items()})
    assert event["type"] == "transcription.failed"
    assert event["data"]["id"] == job_id and event["data"]["error"] == "worker died 2 times on this job"


def _wait_for_log(worker: WorkerProcess, text: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in worker.log():
        assert worker.running() and time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.2)


def test_job_status_changes_are_compare_and_set(postgres_url: str) -> None:
    database = Database.open(postgres_url)
    try:
        job_id = repository.new_job_id()
        repository.create_job(database, job_id=job_id, source=JobSource.UPLOAD, params={}, input_key="k")
        assert repository.claim_job(database, job_id, "a:1:x", lambda _: False) is not None
        assert repository.claim_job(database, job_id, "b:2:y", lambda _: True) is None  # a is alive
        assert repository.reset_to_pending(database, job_id, "c:3:z") is False  # not c's job
        with pytest.raises(repository.JobLostError):
            repository.finish_job(database, job_id, JobStatus.COMPLETED, worker="b:2:y")
        with pytest.raises(repository.JobLostError):
            repository.record_progress(database, job_id, progress=5, current_stage="x", stages=[], worker="b:2:y")
        assert repository.claim_job(database, job_id, "a:1:x", lambda _: True) is not None  # a's own retry
        repository.finish_job(database, job_id, JobStatus.COMPLETED, worker="a:1:x")
        with pytest.raises(repository.JobFinishedError):
            repository.finish_job(database, job_id, JobStatus.FAILED, error="late")
        assert repository.get_job(database, job_id).status is JobStatus.COMPLETED
    finally:
        database.close()


def test_concurrent_claims_on_sqlite_give_the_job_to_exactly_one_worker(tmp_path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'tandem.db'}")
    try:
        job_ids = [repository.new_job_id() for _ in range(5)]
        for job_id in job_ids:
            repository.create_job(database, job_id=job_id, source=JobSource.UPLOAD, params={}, input_key="k")
        for job_id in job_ids:
            workers = [f"host:{pid}:token" for pid in range(6)]
            with ThreadPoolExecutor(max_workers=len(workers)) as pool:
                claims = list(pool.map(repository.claim_job, [database] * 6, [job_id] * 6, workers, [_alive] * 6))
            assert sum(claim is not None for claim in claims) == 1, claims
    finally:
        database.close()


def _alive(_worker: str) -> bool:
    return True


def test_two_stacks_on_one_redis_each_run_their_own_jobs(triton, tmp_path, speech) -> None:
    """Two benchmarks (or a benchmark beside a test run) on one machine share its Redis: a stack's
    worker took the other's job from the common queue, did not find it in its own database, and that
    job stayed pending for good."""
    first = ServeProcess(tmp_path / "first", triton.endpoints.grpc_url)
    second = ServeProcess(tmp_path / "second", triton.endpoints.grpc_url)
    first_worker = start_worker(first)
    second_worker = None
    try:
        waiting = upload(second.http_url, wav_bytes(speech.audio[: 16000 * 2])).json()["id"]
        running = upload(first.http_url, wav_bytes(speech.audio[: 16000 * 2])).json()["id"]
        assert wait_for_status(first.http_url, running)["status"] == "completed"
        second_worker = start_worker(second)
        assert wait_for_status(second.http_url, waiting, timeout_s=60)["status"] == "completed"
    finally:
        for worker in (first_worker, second_worker):
            if worker is not None:
                worker.stop()
        first.stop()
        second.stop()
