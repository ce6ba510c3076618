"""Small HTTP helpers for job tests: upload audio, wait for a final status."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import numpy as np
import soundfile

JOBS = "/v1/audio/transcriptions"
FINAL = {"completed", "failed", "cancelled"}


def wav_bytes(audio: np.ndarray, sample_rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def upload(base_url: str, data: bytes, filename: str = "audio.wav", **fields: Any) -> httpx.Response:
    form = {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in fields.items()}
    return httpx.post(f"{base_url}{JOBS}", files={"file": (filename, data)}, data=form, timeout=60)


def wait_for_status(
    base_url: str, job_id: str, statuses: set[str] = FINAL, timeout_s: float = 180.0
) -> dict[str, Any]:
    """Poll the job (which may not exist yet) until its status is in ``statuses``; its body."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = httpx.get(f"{base_url}{JOBS}/{job_id}", timeout=10)
        body = response.json()
        if response.status_code == 200 and body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} not finished after {timeout_s} s: {body}")
        time.sleep(0.2)
