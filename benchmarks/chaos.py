"""Chaos, long: two control planes and three workers on PostgreSQL + S3 while processes are SIGKILLed.

Starts the bundled Triton, ``moto_server`` (S3) and a fresh schema of the PostgreSQL at
``--postgres-url``, then two ``tandem serve`` and three ``tandem worker`` on them. It submits
``--uploads`` diarized uploads (espeak meetings of 2–4 voices, 20–60 s) to either control plane and
streams ``--sessions`` live sessions with ``store_audio`` + ``enhance_on_end`` at real-time pace,
while every ``--kill-every-s`` seconds a random worker or control plane gets SIGKILL and a new one
takes its place, for ``--chaos-s`` seconds (through the submissions and the work on them); then the
stack drains. Then it
checks what a user would: every accepted job ended ``completed``, or ``failed``/``cancelled`` with a
reason; no job completed twice (the workers' ``job.finished`` log lines); no row left
``pending``/``running``; every session's audio plays and its enhancement ended (a session whose
control plane died mid-stream is ``interrupted``, its recording kept and enhanced). Results go to
``benchmarks/results/chaos.json``.

    python -m benchmarks.chaos --uploads 20 --sessions 6 --kill-every-s 20 --chaos-s 240
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.conversations import make_conversation
from benchmarks.run_facts import run_facts
from clients.jobs_client import JOBS_PATH, upload, wav_bytes
from clients.stream_client import encode_audio, stream_audio, stream_url
from core.protocol import AudioEncoding
from launchers.moto_server import CREDENTIALS, MotoServer
from launchers.serve_process import ServeProcess
from launchers.triton_server import TritonServer
from launchers.worker_processes import WorkerProcess

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "chaos.json"
SESSIONS_PATH = "/v1/audio/transcriptions/stream"
FINAL = {"completed", "failed", "cancelled"}


@contextmanager
def _fresh_schema(admin_url: str):
    """A URL on a new PostgreSQL schema (``search_path``), dropped afterwards."""
    schema = f"chaos_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(admin_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class _Stack:
    """The control planes and workers, replaced when killed; ``kills`` counts what was killed."""

    def __init__(self, work: Path, grpc_url: str, environment: dict[str, str]) -> None:
        self._work, self._grpc_url, self._environment = work, grpc_url, environment
        self._lock = threading.Lock()
        self.planes = [self._plane() for _ in range(2)]
        self.workers = [self._worker() for _ in range(3)]
        self.retired: list[WorkerProcess] = []
        self.kills: Counter[str] = Counter()

    def _plane(self) -> ServeProcess:
        return ServeProcess(self._work / f"plane-{uuid.uuid4().hex[:6]}", self._grpc_url, **self._environment)

    def _worker(self) -> WorkerProcess:
        log = self._work / f"worker-{uuid.uuid4().hex[:6]}.log"
        return WorkerProcess(self._grpc_url, log, dict(self.planes[0].environment))

    def plane(self) -> ServeProcess:
        """A control plane that is up now."""
        with self._lock:
            return random.choice([p for p in self.planes if p.process.poll() is None])

    def kill_one(self) -> None:
        kind = random.choice(("worker", "plane"))
        with self._lock:
            if kind == "worker":
                index = random.randrange(len(self.workers))
                self.workers[index].kill()
                self.retired.append(self.workers[index])
                self.workers[index] = self._worker()
            else:
                index = random.randrange(len(self.planes))
                self.planes[index].process.kill()
                self.planes[index].process.wait()
                self.planes[index] = self._plane()
            self.kills[kind] += 1

    def get(self, path: str, **params: object) -> httpx.Response:
        """``GET path`` on a control plane that answers (another is tried when one fails)."""
        for _ in range(10):
            try:
                return httpx.get(f"{self.plane().http_url}{path}", params=params, timeout=30)
            except httpx.HTTPError:
                time.sleep(1)
        raise RuntimeError(f"no control plane answered GET {path} ten times running")

    def unexpected_exits(self) -> list[str]:
        """The processes (not killed here) found dead, with their exit code and last log lines."""
        with self._lock:
            dead = [p for p in self.planes if p.process.poll() is not None]
            dead_workers = [w for w in self.workers if not w.running()]
        return [f"control plane exited {p.process.returncode}: {p.log_tail(15)}" for p in dead] + [
            f"worker exited: {w.log()[-2000:]}" for w in dead_workers
        ]

    def stop(self) -> None:
        for process in [*self.workers, *self.planes]:
            process.stop()

    def completions(self) -> Counter[str]:
        """How many times each job was logged ``job.finished`` with status ``completed``."""
        counts: Counter[str] = Counter()
        for worker in [*self.workers, *self.retired]:
            for line in worker.log().splitlines():
                if line.startswith("{"):
                    record = json.loads(line)
                    if record.get("event") == "job.finished" and record.get("status") == "completed":
                        counts[record["job_id"]] += 1
        return counts


def _submit_uploads(stack: _Stack, uploads: list[bytes]) -> list[str]:
    job_ids = []
    for wav in uploads:
        for _ in range(5):  # the chosen control plane may be killed under the request: ask another
            try:
                response = upload(stack.plane().http_url, wav, speaker_detection="diarize")
                break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            raise RuntimeError("no control plane took the upload five times running")
        if response.status_code == 201:
            job_ids.append(response.json()["id"])
        time.sleep(1)
    return job_ids


async def _sessions(stack: _Stack, streams: list[bytes]) -> None:
    """The live sessions at once (16-bit PCM at 16 kHz each), each on a control plane that is up when it starts."""

    async def one(audio: bytes) -> None:
        url = stream_url(stack.plane().ws_url, {"store_audio": True, "enhance_on_end": True})
        with contextlib.suppress(Exception):  # its control plane was killed under it: listing finds the session
            await stream_audio(url, audio, bytes_per_second=32000, speed=1.0, reply_timeout_s=120)

    await asyncio.gather(*(one(audio) for audio in streams))


def _wait_for_jobs(stack: _Stack, job_ids: list[str], timeout_s: float) -> dict[str, dict]:
    deadline, bodies = time.monotonic() + timeout_s, {}
    while time.monotonic() < deadline:
        for job_id in job_ids:
            if bodies.get(job_id, {}).get("status") not in FINAL:
                bodies[job_id] = stack.get(f"{JOBS_PATH}/{job_id}").json()
        if all(bodies.get(j, {}).get("status") in FINAL for j in job_ids):
            break
        time.sleep(2)
    return bodies


def run(args: argparse.Namespace, work: Path) -> dict:
    os.environ.update(CREDENTIALS)
    # espeak is not thread-safe: every clip is made here, before the threads start.
    uploads = [wav_bytes(make_conversation(2 + i % 3, seed=100 + i).audio) for i in range(args.uploads)]
    streams = [
        encode_audio(make_conversation(2, seed=200 + i).audio, AudioEncoding.PCM_S16LE) for i in range(args.sessions)
    ]
    with (
        TritonServer(ROOT / "model_repository", work / "triton") as triton,
        MotoServer(work) as s3,
        _fresh_schema(args.postgres_url) as database_url,
    ):
        environment = {
            "TANDEM_QUEUE_NAME": f"tandem-chaos-{uuid.uuid4().hex[:8]}",
            "TANDEM_STORAGE_URL": f"s3://tandem-chaos-{uuid.uuid4().hex[:8]}",
            "TANDEM_S3_ENDPOINT_URL": s3.endpoint,
            "TANDEM_DATABASE_URL": database_url,
            "TANDEM_WORKER_MAINTENANCE_INTERVAL_S": "2",
        }
        stack = _Stack(work, triton.endpoints.grpc_url, environment)
        try:
            # Children die with the *thread* that started them (PR_SET_PDEATHSIG): the killing and the
            # restarts stay on this thread; the clients submit from another.
            job_ids: list[str] = []
            started = time.monotonic()

            def submit() -> None:
                sessions = threading.Thread(target=lambda: asyncio.run(_sessions(stack, streams)))
                sessions.start()
                job_ids.extend(_submit_uploads(stack, uploads))
                sessions.join()

            clients = threading.Thread(target=submit)
            clients.start()
            while time.monotonic() - started < args.chaos_s:
                time.sleep(args.kill_every_s)
                stack.kill_one()
            clients.join()
            submitted_s = time.monotonic() - started
            listed = stack.get(SESSIONS_PATH, limit=100).json()
            enhancement_ids = [s["enhancement_job_id"] for s in listed["sessions"] if s.get("enhancement_job_id")]
            bodies = _wait_for_jobs(stack, job_ids + enhancement_ids, args.drain_timeout_s)
            finished_s = time.monotonic() - started
            listed = stack.get(SESSIONS_PATH, limit=100).json()["sessions"]
            stuck = {
                status: len(stack.get(JOBS_PATH, status=status).json()["jobs"]) for status in ("pending", "running")
            }
            audio_plays = 0
            for session in listed:
                audio = stack.get(f"{SESSIONS_PATH}/{session['id']}/audio")
                audio_plays += audio.status_code == 200 and audio.content[:4] == b"RIFF"
            completions = stack.completions()
            unexpected_exits = stack.unexpected_exits()
            statuses = Counter(body.get("status") for body in bodies.values())
            failed = [body for body in bodies.values() if body.get("status") == "failed"]
            return {
                "uploads_accepted": len(job_ids),
                "sessions_streamed": args.sessions,
                "sessions_recorded": len(listed),
                "session_statuses": dict(Counter(s["status"] for s in listed)),
                "session_audio_plays": audio_plays,
                "enhancement_jobs": len(enhancement_ids),
                "kills": dict(stack.kills),
                "job_statuses": dict(statuses),
                "failed_reasons": sorted({str(body.get("error")) for body in failed}),
                "failed_without_reason": sum(1 for body in failed if not body.get("error")),
                "completed_twice": sum(1 for n in completions.values() if n > 1),
                "stuck_rows": stuck,
                "unexpected_exits": unexpected_exits,
                "submit_s": round(submitted_s, 1),
                "all_ended_s": round(finished_s, 1),
            }
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--kill-every-s", type=float, default=20.0)
    parser.add_argument("--chaos-s", type=float, default=240.0, help="How long processes are killed.")
    parser.add_argument("--drain-timeout-s", type=float, default=1800.0)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TANDEM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    random.seed(0)
    with tempfile.TemporaryDirectory() as work:
        outcome = run(args, Path(work))
    report = run_facts() | {"settings": vars(args)} | outcome
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
