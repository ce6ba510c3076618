"""A job keeps at most ``TANDEM_JOB_REQUESTS_IN_FLIGHT`` batch requests outstanding at Triton.

A real job (uploaded to ``tandem serve``, queued on Redis, its row in the server's database) is run
by ``run_job`` in this process, against the real Triton, so every gRPC request the job sends can
be counted as it goes out and as its answer comes back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc.aio as grpcclient

from clients.jobs_client import upload, wav_bytes
from core.inference import BATCH_ASR_MODEL, SPEAKER_EMBEDDING_MODEL
from pipelines import services
from pipelines.runner import run_job
from tests.stack_fixtures import start_server

REQUESTS_IN_FLIGHT = 2


class _OutstandingRequests:
    """Counts a job's ``batch_asr`` and ``speaker_embedding`` requests sent and not yet answered."""

    def __init__(self) -> None:
        self.outstanding = 0
        self.peak = 0
        self.sent: Counter[str] = Counter()

    def counting(self, infer: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def counted(client: grpcclient.InferenceServerClient, model_name: str, *args: Any, **kwargs: Any) -> Any:
            if model_name not in (BATCH_ASR_MODEL, SPEAKER_EMBEDDING_MODEL):
                return await infer(client, model_name, *args, **kwargs)
            self.sent[model_name] += 1
            self.outstanding += 1
            self.peak = max(self.peak, self.outstanding)
            try:
                return await infer(client, model_name, *args, **kwargs)
            finally:
                self.outstanding -= 1

        return counted


def test_a_long_diarized_job_never_has_more_requests_at_triton_than_its_limit(
    triton, tmp_path, long_speech, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(tmp_path, triton.endpoints, TANDEM_JOB_REQUESTS_IN_FLIGHT=str(REQUESTS_IN_FLIGHT))
    requests = _OutstandingRequests()
    try:
        audio = np.concatenate([long_speech] * 2)  # about two minutes: several chunks, several embedding batches
        job_id = upload(server.http_url, wav_bytes(audio), speaker_detection="diarize").json()["id"]
        for name, value in server.environment.items():
            if name.startswith("TANDEM_"):
                monkeypatch.setenv(name, value)
        services.worker_services.cache_clear()
        monkeypatch.setattr(
            grpcclient.InferenceServerClient, "infer", requests.counting(grpcclient.InferenceServerClient.infer)
        )
        assert run_job(job_id) == "completed", server.log_tail()
    finally:
        services.worker_services.cache_clear()
        server.stop()
    assert requests.sent[BATCH_ASR_MODEL] >= 3 and requests.sent[SPEAKER_EMBEDDING_MODEL] >= 3, requests.sent
    assert requests.peak == REQUESTS_IN_FLIGHT
