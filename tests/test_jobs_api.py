"""Batch jobs through the real stack: HTTP upload → SQL row → RQ on Redis → worker → Triton → result."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from standardwebhooks import Webhook

from benchmarks.speech import word_error_rate
from clients.jobs_client import JOBS_PATH as JOBS
from clients.jobs_client import upload, wait_for_status, wav_bytes
from launchers.serve_process import ServeProcess
from launchers.triton_server import free_port
from tests.stack_fixtures import start_server, start_worker


@pytest.fixture(scope="module")
def jobs_server(triton, tmp_path_factory) -> Iterator[ServeProcess]:
    """A control plane with one worker, its webhook secret fixed for the signature check."""
    server = start_server(
        tmp_path_factory.mktemp("jobs"),
        triton.endpoints,
        TANDEM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        TANDEM_MAX_UPLOAD_MB="8",
        TANDEM_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver listens on loopback
    )
    worker = start_worker(server)
    yield server
    worker.stop()
    server.stop()


WEBHOOK_SECRET = "whsec_" + "dGFuZGVtLXRlc3Qtc2VjcmV0LXRhbmRlbS10ZXN0LXNl"


def test_upload_is_transcribed_with_word_timings(jobs_server: ServeProcess, speech) -> None:
    created = upload(jobs_server.http_url, wav_bytes(speech.audio), "meeting.wav", vocabulary="ignored", language="en")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "pending" and uuid.UUID(body["id"]) and body["created_at"]
    assert (jobs_server.data_dir / "objects" / "jobs" / body["id"] / "input.wav").exists()

    job = wait_for_status(jobs_server.http_url, body["id"])
    assert job["status"] == "completed", job
    assert job["progress"] == 100 and job["source"] == "upload" and job["completed_at"]
    assert [stage["name"] for stage in job["stages"]] == ["prepare", "transcribe", "merge", "persist"]
    assert all(stage["status"] == "completed" and stage["duration_ms"] >= 0 for stage in job["stages"])
    assert word_error_rate(speech.text, job["text"]) < 0.15
    assert job["duration"] == pytest.approx(speech.duration_s, abs=0.05)
    words = job["words"]
    assert words and all(w["word"] == w["text"] and 0 <= w["start"] <= w["end"] <= job["duration"] for w in words)
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    for utterance in speech.utterances:  # the first word of each line starts where its speech does
        first = min(words, key=lambda w: abs(w["start"] - utterance.speech_start_s))
        assert abs(first["start"] - utterance.speech_start_s) < 0.3
    assert all(segment["words"] for segment in job["segments"])
    assert (jobs_server.data_dir / "objects" / "jobs" / body["id"] / "transcript.json").exists()


def test_diarization_runs_beside_transcription(jobs_server: ServeProcess, speech) -> None:
    """Both start from one search of the speech regions and meet only at merge: their stages overlap in time."""
    created = upload(jobs_server.http_url, wav_bytes(speech.audio), speaker_detection="diarize", num_speakers=2)
    assert created.status_code == 201, created.text
    job = wait_for_status(jobs_server.http_url, created.json()["id"])
    assert job["status"] == "completed", job
    stages = {stage["name"]: stage for stage in job["stages"]}
    assert list(stages)[:4] == ["prepare", "transcribe", "diarize", "merge"]
    started, completed = (
        {name: datetime.fromisoformat(stage[key]) for name, stage in stages.items()}
        for key in ("started_at", "completed_at")
    )
    assert started["diarize"] < completed["transcribe"] and started["transcribe"] < completed["diarize"]
    assert started["merge"] >= max(completed["transcribe"], completed["diarize"])
    assert len(job["speakers"]) == 2 and word_error_rate(speech.text, job["text"]) < 0.15


def test_exports_and_listing(jobs_server: ServeProcess, speech) -> None:
    job_id = upload(jobs_server.http_url, wav_bytes(speech.audio)).json()["id"]
    assert httpx.get(f"{jobs_server.http_url}{JOBS}/{job_id}/export/srt").status_code in (200, 409)
    wait_for_status(jobs_server.http_url, job_id)
    base = f"{jobs_server.http_url}{JOBS}/{job_id}/export"
    srt = httpx.get(f"{base}/srt", params={"max_line_length": 20, "max_lines": 1}).text
    assert srt.startswith("1\n00:00:0") and " --> " in srt
    cue_lines = [line for block in srt.strip().split("\n\n") for line in block.split("\n")[2:]]
    assert cue_lines and all(len(line) <= 20 for line in cue_lines)
    vtt = httpx.get(f"{base}/vtt").text
    assert vtt.startswith("WEBVTT\n\n00:00:0")
    text = httpx.get(f"{base}/txt").text
    assert word_error_rate(speech.text, text) < 0.15
    exported = httpx.get(f"{base}/json").json()
    assert exported["id"] == job_id and exported["segments"]
    assert httpx.get(f"{base}/docx").status_code == 400

    page = httpx.get(f"{jobs_server.http_url}{JOBS}", params={"limit": 1}).json()
    assert len(page["jobs"]) == 1 and page["has_more"] is (page["total"] > 1)
    assert page["limit"] == 1 and page["offset"] == 0
    if page["has_more"]:
        following = httpx.get(f"{jobs_server.http_url}{JOBS}", params={"limit": 1, "cursor": page["cursor"]}).json()
        assert following["jobs"][0]["id"] != page["jobs"][0]["id"]
    completed = httpx.get(f"{jobs_server.http_url}{JOBS}", params={"status": "completed"}).json()
    assert job_id in {job["id"] for job in completed["jobs"]}
    assert httpx.get(f"{jobs_server.http_url}{JOBS}", params={"status": "nope"}).status_code == 400


def test_events_stream_progress_and_end_with_the_final_status(jobs_server: ServeProcess, speech) -> None:
    job_id = upload(jobs_server.http_url, wav_bytes(speech.audio[: 16000 * 6])).json()["id"]
    events = []
    with httpx.stream("GET", f"{jobs_server.http_url}{JOBS}/{job_id}/events", timeout=120) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    assert events[-1][0] == "completed" and events[-1][1]["text"]
    assert all(name == "progress" for name, _ in events[:-1])
    progress = [data["progress"] for _, data in events]
    assert progress == sorted(progress) and progress[-1] == 100


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"", 400),
        (b"this is a text file, not audio at all " * 20, 422),
        (b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4, 422),
    ],
    ids=["empty", "not-audio", "corrupt-wav"],
)
def test_bad_uploads_are_refused_without_a_job(jobs_server: ServeProcess, payload: bytes, status: int) -> None:
    before = httpx.get(f"{jobs_server.http_url}{JOBS}").json()["total"]
    response = upload(jobs_server.http_url, payload, "upload.wav")
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == "invalid_audio" and response.json()["error"]["message"]
    assert httpx.get(f"{jobs_server.http_url}{JOBS}").json()["total"] == before


def test_truncated_and_oversized_uploads(jobs_server: ServeProcess, speech) -> None:
    whole = wav_bytes(speech.audio)
    truncated = upload(jobs_server.http_url, whole[: len(whole) // 3], "cut.wav")
    assert truncated.status_code == 422 and "truncated" in truncated.json()["error"]["message"]
    too_big = upload(jobs_server.http_url, wav_bytes(np.zeros(16000 * 300, dtype=np.float32)), "long.wav")
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "file_too_large"
    no_file = httpx.post(f"{jobs_server.http_url}{JOBS}", data={"language": "en"})
    assert no_file.status_code == 400 and no_file.json()["error"]["code"] == "invalid_parameters"
    bad_field = upload(jobs_server.http_url, whole, num_speakers="zero")
    assert bad_field.status_code == 400


def test_unknown_job_and_conflicts(jobs_server: ServeProcess, speech) -> None:
    missing = str(uuid.uuid4())
    assert httpx.get(f"{jobs_server.http_url}{JOBS}/{missing}").status_code == 404
    assert httpx.post(f"{jobs_server.http_url}{JOBS}/{missing}/cancel").status_code == 404
    assert httpx.delete(f"{jobs_server.http_url}{JOBS}/{missing}").status_code == 404
    job_id = upload(jobs_server.http_url, wav_bytes(speech.audio[: 16000 * 4])).json()["id"]
    wait_for_status(jobs_server.http_url, job_id)
    cancel = httpx.post(f"{jobs_server.http_url}{JOBS}/{job_id}/cancel")
    assert cancel.status_code == 409 and cancel.json()["error"]["code"] == "job_finished"
    assert httpx.delete(f"{jobs_server.http_url}{JOBS}/{job_id}").status_code == 204
    assert httpx.get(f"{jobs_server.http_url}{JOBS}/{job_id}").status_code == 404
    assert not (jobs_server.data_dir / "objects" / "jobs" / job_id).exists()


class _WebhookReceiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["content-length"]))
        _WebhookReceiver.received.append((dict(self.headers), body))
        # The first delivery fails, so the retry with backoff is exercised too.
        self.send_response(503 if len(_WebhookReceiver.received) == 1 else 204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_is_signed_and_retried(jobs_server: ServeProcess, speech) -> None:
    port = free_port()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", port), _WebhookReceiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        job_id = upload(
            jobs_server.http_url, wav_bytes(speech.audio[: 16000 * 4]), webhook_url=f"http://127.0.0.1:{port}/hook"
        ).json()["id"]
        wait_for_status(jobs_server.http_url, job_id)
        deadline_attempts = 0
        while len(_WebhookReceiver.received) < 2 and deadline_attempts < 100:
            threading.Event().wait(0.1)
            deadline_attempts += 1
    finally:
        receiver.shutdown()
    assert len(_WebhookReceiver.received) == 2
    headers, body = _WebhookReceiver.received[-1]
    headers = {key.lower(): value for key, value in headers.items()}
    assert headers["webhook-signature"].startswith("v1,")
    event = Webhook(WEBHOOK_SECRET).verify(body, headers)
    assert event["type"] == "transcription.completed" and event["data"]["id"] == job_id and event["data"]["text"]


def test_pending_job_is_cancelled_at_once(triton, tmp_path: Path, speech) -> None:
    server = start_server(tmp_path / "no-worker", triton.endpoints)  # no worker: the job stays pending
    try:
        job_id = upload(server.http_url, wav_bytes(speech.audio[: 16000 * 3])).json()["id"]
        assert httpx.get(f"{server.http_url}{JOBS}/{job_id}").json()["status"] == "pending"
        cancelled = httpx.post(f"{server.http_url}{JOBS}/{job_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json() == {"id": job_id, "status": "cancelled"}
        worker = start_worker(server)
        try:  # the queued message is still consumed, and does nothing
            other = upload(server.http_url, wav_bytes(speech.audio[: 16000 * 3])).json()["id"]
            assert wait_for_status(server.http_url, other)["status"] == "completed"
        finally:
            worker.stop()
        assert httpx.get(f"{server.http_url}{JOBS}/{job_id}").json()["status"] == "cancelled"
    finally:
        server.stop()
