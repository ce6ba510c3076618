"""A client of the jobs API: upload a file, follow its events, fetch the result (``tandem transcribe``)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from clients.stream_client import print_speaker_transcript
from core.jobs.result import JobBody
from core.transcript import Transcript

JOBS_PATH = "/v1/audio/transcriptions"


class JobFailed(RuntimeError):
    pass


def transcribe_file(path: Path, base_url: str, fields: dict[str, str], console: Console) -> JobBody:
    """Upload ``path`` as a job, show its progress until it ends, print the transcript; the final body."""
    base_url = base_url.rstrip("/")
    with path.open("rb") as file:
        response = httpx.post(f"{base_url}{JOBS_PATH}", files={"file": (path.name, file)}, data=fields, timeout=600)
    if response.status_code != 201:
        raise JobFailed(f"upload refused ({response.status_code}): {response.text}")
    job_id = response.json()["id"]
    console.print(f"job {job_id}", soft_wrap=True)
    final = _follow(base_url, job_id, console)
    if final.status != "completed":
        raise JobFailed(f"job {job_id} {final.status}: {final.error}")
    print_speaker_transcript(console, msgspec.convert(msgspec.to_builtins(final), Transcript, strict=False))
    for warning in final.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}")
    return final


def _follow(base_url: str, job_id: str, console: Console) -> JobBody:
    """Read the job's Server-Sent Events with a progress bar; the last event's body."""
    columns = (TextColumn("{task.description:<14}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("queued", total=100)
        with httpx.stream("GET", f"{base_url}{JOBS_PATH}/{job_id}/events", timeout=None) as events:
            body = None
            for line in events.iter_lines():
                if not line.startswith("data: "):
                    continue
                body = msgspec.convert(json.loads(line.removeprefix("data: ")), JobBody, strict=False)
                progress.update(task, completed=body.progress, description=body.current_stage or body.status)
    if body is None:
        raise JobFailed(f"job {job_id}: the event stream ended without a status")
    return body
