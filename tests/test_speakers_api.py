"""Speaker enrollment through the real stack: /v1/speakers, and enrolled names in a diarized job."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile

from benchmarks.speech import SAMPLE_RATE, conversation, espeak_available, synthesize
from clients.jobs_client import upload, wait_for_status, wav_bytes
from tests.stack_fixtures import start_server, start_worker

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")

SPEAKERS = "/v1/speakers"
ENROLLMENT = ("Hello, this is a short recording of my voice.", "I usually work from the office on Mondays.")


def sample(voice: str, audio_format: str = "WAV") -> bytes:
    """About 5 s of ``voice`` saying sentences the test conversation does not contain."""
    pause = np.zeros(int(0.4 * SAMPLE_RATE), np.float32)
    audio = np.concatenate([piece for text in ENROLLMENT for piece in (synthesize(text, voice), pause)])
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, SAMPLE_RATE, format=audio_format)
    return buffer.getvalue()


def enroll(base_url: str, name: str, data: bytes, filename: str = "sample.wav") -> httpx.Response:
    return httpx.post(f"{base_url}{SPEAKERS}", data={"name": name}, files={"file": (filename, data)}, timeout=60)


def test_enrolled_voices_are_named_in_a_diarized_job(triton, tmp_path: Path) -> None:
    """Two enrolled voices and one unknown voice: the enrolled get their names, the unknown never one of them.

    The second voice introduces itself as "Alice" but is enrolled as Priya: the enrolled name wins.
    """
    meeting = conversation(
        (
            ("en-us", "Hello everyone, thank you for joining the meeting today."),
            ("en+f3", "Good morning, my name is Alice and I work in sales."),
            ("en+m7", "The weather is nice and the sun is shining."),
            ("en-us", "We need to finish the report before Friday afternoon."),
            ("en+f3", "Yes, I will email them to you after lunch."),
            ("en+m7", "Our team has grown to twelve people this year."),
        ),
        gap_s=0.8,
    )
    server = start_server(tmp_path / "server", triton.endpoints)
    worker = start_worker(server)
    try:
        assert enroll(server.http_url, "Oliver", sample("en-us")).status_code == 201
        assert enroll(server.http_url, "Priya", sample("en+f3", "FLAC"), "priya.flac").status_code == 201
        job_id = upload(server.http_url, wav_bytes(meeting.audio), speaker_detection="diarize", num_speakers=3).json()
        job = wait_for_status(server.http_url, job_id["id"], timeout_s=600)
    finally:
        worker.stop()
        server.stop()
    assert job["status"] == "completed", job
    assert "my name is alice" in job["text"].lower()  # the rules would name this speaker Alice: enrolled Priya must win
    speakers = {speaker["id"]: speaker for speaker in job["speakers"]}
    by_voice = {voice: speakers[speaker_id] for speaker_id, voice in speaker_voices(job, meeting).items()}
    assert set(by_voice) == {"en-us", "en+f3", "en+m7"}, job["segments"]
    assert (by_voice["en-us"].get("name"), by_voice["en-us"].get("name_source")) == ("Oliver", "enrolled")
    assert (by_voice["en+f3"].get("name"), by_voice["en+f3"].get("name_source")) == ("Priya", "enrolled")
    unknown = by_voice["en+m7"]
    assert unknown.get("name") not in ("Oliver", "Priya") and unknown.get("name_source") != "enrolled"


def speaker_voices(job: dict, clip) -> dict[str, str]:
    """Each diarized speaker id → the voice whose utterances its segments overlap most."""
    spoken: dict[str, Counter[str]] = {}
    for segment in job["segments"]:
        for utterance in clip.utterances:
            shared = min(segment["end"], utterance.speech_end_s) - max(segment["start"], utterance.speech_start_s)
            if shared > 0:
                spoken.setdefault(segment["speaker"], Counter())[utterance.voice] += shared
    return {speaker: counts.most_common(1)[0][0] for speaker, counts in spoken.items()}


def test_enroll_list_get_delete_and_survive_a_restart(triton, tmp_path: Path) -> None:
    server = start_server(tmp_path / "server", triton.endpoints)
    try:
        created = enroll(server.http_url, "  Oliver   Stone ", sample("en-us", "OGG"), "oliver.ogg")
        assert created.status_code == 201, created.text
        oliver = created.json()
        assert oliver["name"] == "Oliver Stone" and oliver["id"].startswith("spk_")
        assert oliver["sample_seconds"] >= 3.0 and oliver["embedding_model"].startswith("campplus:")
        assert "embedding" not in oliver
        stored_sample = tmp_path / "server" / "objects" / "speakers" / oliver["id"] / "sample.ogg"
        assert stored_sample.is_file()
        priya = enroll(server.http_url, "Priya", sample("en+f3")).json()
    finally:
        server.stop()

    server = start_server(tmp_path / "server", triton.endpoints)
    try:
        listed = httpx.get(f"{server.http_url}{SPEAKERS}").json()["speakers"]
        assert [s["id"] for s in listed] == [oliver["id"], priya["id"]]
        assert httpx.get(f"{server.http_url}{SPEAKERS}/{oliver['id']}").json() == oliver
        assert httpx.delete(f"{server.http_url}{SPEAKERS}/{oliver['id']}").status_code == 204
        missing = httpx.get(f"{server.http_url}{SPEAKERS}/{oliver['id']}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "speaker_not_found"
        assert httpx.delete(f"{server.http_url}{SPEAKERS}/{oliver['id']}").status_code == 404
        assert not stored_sample.exists()
        assert [s["id"] for s in httpx.get(f"{server.http_url}{SPEAKERS}").json()["speakers"]] == [priya["id"]]
    finally:
        server.stop()


def test_bad_enrollments_are_refused(triton, tmp_path: Path) -> None:
    server = start_server(tmp_path / "server", triton.endpoints)
    url = f"{server.http_url}{SPEAKERS}"
    one_second = wav_bytes(synthesize("Hello there.", "en-us")[:SAMPLE_RATE])
    try:
        cases = [
            (httpx.post(url, files={"file": ("a.wav", sample("en-us"))}), 400, "invalid_parameters"),
            (
                httpx.post(url, data={"name": "   "}, files={"file": ("a.wav", sample("en-us"))}),
                400,
                "invalid_parameters",
            ),
            (httpx.post(url, data={"name": "Ann"}), 400, "invalid_parameters"),
            (enroll(server.http_url, "Ann", b""), 400, "invalid_audio"),
            (enroll(server.http_url, "Ann", b"this is not audio at all" * 50, "a.mp3"), 422, "invalid_audio"),
            (enroll(server.http_url, "Ann", sample("en-us")[:2000]), 422, "invalid_audio"),
            (
                enroll(server.http_url, "Ann", wav_bytes(np.zeros(5 * SAMPLE_RATE, np.float32))),
                422,
                "insufficient_speech",
            ),
            (enroll(server.http_url, "Ann", one_second), 422, "insufficient_speech"),
        ]
        for response, status, code in cases:
            assert response.status_code == status, response.text
            assert response.json()["error"]["code"] == code, response.text
        assert httpx.get(url).json() == {"speakers": []}
    finally:
        server.stop()
