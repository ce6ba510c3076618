"""Enrichment inside jobs: speaker names, LLM cleanup (a real llama.cpp server) and emotion, end to end."""

from __future__ import annotations

from pathlib import Path

from clients.jobs_client import upload, wait_for_status, wav_bytes
from tests.stack_fixtures import start_server, start_worker


def test_enriched_job_names_speakers_cleans_and_adds_emotions(triton, llm_endpoint, tmp_path: Path, speech) -> None:
    server = start_server(tmp_path / "server", triton.endpoints, TANDEM_LLM_URL=llm_endpoint, TANDEM_LLM_TIMEOUT_S="60")
    worker = start_worker(server)
    try:
        job_id = upload(
            server.http_url, wav_bytes(speech.audio), speaker_detection="diarize", num_speakers=2,
            llm_cleanup=True, emotions=True,
        ).json()["id"]
        job = wait_for_status(server.http_url, job_id, timeout_s=600)
    finally:
        worker.stop()
        server.stop()
    assert job["status"] == "completed", job
    stages = {stage["name"]: stage for stage in job["stages"]}
    assert list(stages) == [
        "prepare", "transcribe", "diarize", "merge", "llm_cleanup", "emotion", "speaker_names", "persist"
    ]
    assert all(stage["status"] == "completed" for stage in stages.values()), stages
    # "Good morning, my name is Alice and I work in sales." is the second voice's first line.
    assert job["speakers"][1] == {"id": "SPEAKER_01", "name": "Alice", "name_source": "inferred",
                                  "total_duration": job["speakers"][1]["total_duration"]}
    assert "name" not in job["speakers"][0]
    for segment in job["segments"]:
        emotion = segment["emotion"]
        assert emotion["label"] and -1 <= emotion["valence"] <= 1 and 0 <= emotion["arousal"] <= 1
        assert all(word["speaker"] == segment["speaker"] for word in segment["words"])


def test_optional_stages_fail_into_warnings(triton, tmp_path: Path, speech) -> None:
    """No LLM is configured here: the cleanup stage is skipped with a warning, the job completes."""
    server = start_server(tmp_path / "server", triton.endpoints)
    worker = start_worker(server)
    try:
        job_id = upload(server.http_url, wav_bytes(speech.audio[: 16000 * 5]), llm_cleanup=True).json()["id"]
        job = wait_for_status(server.http_url, job_id)
    finally:
        worker.stop()
        server.stop()
    assert job["status"] == "completed" and job["text"]
    cleanup = next(stage for stage in job["stages"] if stage["name"] == "llm_cleanup")
    assert cleanup["status"] == "skipped" and "no LLM endpoint" in cleanup["error"]
    assert any(warning.startswith("llm_cleanup skipped") for warning in job["warnings"])
