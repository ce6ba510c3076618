"""A client of the jobs API: upload audio, wait for or follow a job, fetch the result (``tandem transcribe``)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import soundfile
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from clients.stream_client import print_speaker_transcript
from core.jobs.result import JobBody
from core.transcript import Transcript

JOBS_PATH = "/v1/audio/transcriptions"
FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


class JobFailed(RuntimeError):
    pass


def wav_bytes(audio: np.ndarray, sample_rate: int = 16000) -> bytes:
    """``audio`` as a 16-bit PCM WAV file."""
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def upload(base_url: str, data: bytes, filename: str = "audio.wav", **fields: Any) -> httpx.Response:
    """``POST`` one file as a job with form ``fields`` (booleans as ``true``/``false``); the raw response."""
    form = {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in fields.items()}
    return httpx.post(f"{base_url}{JOBS_PATH}", files={"file": (filename, data)}, data=form, timeout=60)


def wait_for_status(
    base_url: str, job_id: str, statuses: set[str] | frozenset[str] = FINAL_STATUSES, timeout_s: float = 180.0
) -> dict[str, Any]:
    """Poll the job (which may not exist yet) until its status is in ``statuses``; its body."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = httpx.get(f"{base_url}{JOBS_PATH}/{job_id}", timeout=10)
        body = response.json()
        if response.status_code == 200 and body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} not finished after {timeout_s} s: {body}")
        time.sleep(0.2)


def transcribe_file(
    path: Path, base_url: str, fields: dict[str, str], console: Console, api_key: str | None = None
) -> JobBody:
    """Upload ``path`` as a job, show its progress until it ends, print the transcript; the final body.

    ``api_key`` goes in an ``Authorization: Bearer`` header (servers with ``TANDEM_AUTH=keys``).
    """
    base_url = base_url.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with path.open("rb") as file:
        response = httpx.post(
            f"{base_url}{JOBS_PATH}", files={"file": (path.name, file)}, data=fields, headers=headers, timeout=600
        )
    if response.status_code != 201:
        raise JobFailed(f"upload refused ({response.status_code}): {response.text}")
    job_id = response.json()["id"]
    console.print(f"job {job_id}", soft_wrap=True)
    final = _follow(base_url, job_id, console, headers)
    if final.status != "completed":
        raise JobFailed(f"job {job_id} {final.status}: {final.error}")
    print_speaker_transcript(console, msgspec.convert(msgspec.to_builtins(final), Transcript, strict=False))
    for warning in final.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}")
    return final


def _follow(base_url: str, job_id: str, console: Console, headers: dict[str, str]) -> JobBody:
    """Read the job's Server-Sent Events with a progress bar; the last event's body."""
    columns = (TextColumn("{task.description:<14}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("queued", total=100)
        with httpx.stream("GET", f"{base_url}{JOBS_PATH}/{job_id}/events", headers=headers, timeout=None) as events:
            body = None
            for line in events.iter_lines():
                if not line.startswith("data: "):
                    continue
                body = msgspec.convert(json.loads(line.removeprefix("data: ")), JobBody, strict=False)
                progress.update(task, completed=body.progress, description=body.current_stage or body.status)
    if body is None:
        raise JobFailed(f"job {job_id}: the event stream ended without a status")
    return body
