"""The OpenAI door driven by OpenAI's own Python SDK against a real stack (HTTP → job → worker → Triton)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from benchmarks.speech import word_error_rate
from benchmarks.stack import MODEL_REPOSITORY, config_parameters
from clients.jobs_client import JOBS_PATH as JOBS
from clients.jobs_client import upload, wait_for_status, wav_bytes
from launchers.serve_process import ServeProcess
from tests.stack_fixtures import server_with_worker


@pytest.fixture(scope="module")
def openai_server(triton, tmp_path_factory) -> Iterator[ServeProcess]:
    """A control plane with one worker and an alias answered as the diarizing model."""
    with server_with_worker(
        tmp_path_factory.mktemp("openai"),
        triton.endpoints,
        TANDEM_OPENAI_MODEL_ALIASES="meeting-notes=gpt-4o-transcribe-diarize",
    ) as server:
        yield server


@pytest.fixture(scope="module")
def client(openai_server: ServeProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{openai_server.http_url}/v1", api_key="unused", timeout=300, max_retries=0)


@pytest.fixture(scope="module")
def meeting_wav(speech) -> bytes:
    return wav_bytes(speech.audio)


def test_whisper_json_is_synchronous_and_a_listed_job(client, openai_server, meeting_wav, speech) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("meeting.wav", meeting_wav), language="en"
    )
    assert raw.status_code == 200
    job_id = raw.headers["x-tandem-job-id"]
    result = raw.parse()
    assert word_error_rate(speech.text, result.text) < 0.2
    assert result.usage.type == "duration" and result.usage.seconds == pytest.approx(speech.duration_s, abs=0.1)
    job = httpx.get(f"{openai_server.http_url}{JOBS}/{job_id}").json()
    assert job["status"] == "completed" and job["params"]["model"] == "whisper-1"
    assert [stage["name"] for stage in job["stages"]] == ["prepare", "transcribe", "merge", "persist"]
    listed = httpx.get(f"{openai_server.http_url}{JOBS}").json()["jobs"]
    assert job_id in {entry["id"] for entry in listed}


def test_every_text_format(client, meeting_wav, speech) -> None:
    text = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", meeting_wav), response_format="text")
    assert isinstance(text, str) and word_error_rate(speech.text, text) < 0.2
    srt = client.audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("a.wav", meeting_wav), response_format="srt"
    )
    assert srt.startswith("1\n00:00:0") and " --> " in srt
    vtt = client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("a.wav", meeting_wav), response_format="vtt"
    )
    assert vtt.startswith("WEBVTT\n\n00:00:0")


def test_verbose_json_with_words_and_segments(client, meeting_wav, speech) -> None:
    verbose = client.audio.transcriptions.create(
        model="whisper-1",
        file=("a.wav", meeting_wav),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert verbose.language == "en" and verbose.duration == pytest.approx(speech.duration_s, abs=0.1)
    assert verbose.words and all(0 <= w.start <= w.end <= verbose.duration for w in verbose.words)
    assert verbose.segments and all(s.avg_logprob <= 0 and s.text for s in verbose.segments)
    only_words = client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", meeting_wav), response_format="verbose_json", timestamp_granularities=["word"]
    )
    assert only_words.words and only_words.segments is None


def test_diarized_json_labels_the_two_voices(client, meeting_wav) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(
        model="gpt-4o-transcribe-diarize", file=("a.wav", meeting_wav), response_format="diarized_json"
    )
    result = raw.parse()
    first, second, third, fourth = (s.speaker for s in result.segments[:4])
    assert first == third == "A" and second == fourth == "Alice"  # "my name is Alice": the inferred name
    assert all(s.type == "transcript.text.segment" and s.id.startswith("seg_") for s in result.segments)
    assert result.task == "transcribe" and result.text


def test_stream_sends_deltas_segments_and_done(client, meeting_wav, speech) -> None:
    events = list(client.audio.transcriptions.create(model="meeting-notes", file=("a.wav", meeting_wav), stream=True))
    kinds = [event.type for event in events]
    assert kinds[-1] == "transcript.text.done" and "transcript.text.delta" in kinds
    assert "transcript.text.segment" in kinds
    deltas = "".join(event.delta for event in events if event.type == "transcript.text.delta")
    assert deltas == events[-1].text and word_error_rate(speech.text, deltas) < 0.2


def test_whisper_1_ignores_stream(openai_server, meeting_wav) -> None:
    response = httpx.post(
        f"{openai_server.http_url}/v1/audio/transcriptions",
        files={"file": ("a.wav", meeting_wav)},
        data={"model": "whisper-1", "stream": "true"},
        timeout=300,
    )
    assert response.status_code == 200 and response.json()["text"]


def test_other_models_and_respond_async_keep_the_job_contract(openai_server, meeting_wav) -> None:
    served = config_parameters((MODEL_REPOSITORY / "batch_asr" / "config.pbtxt").read_text())["model_name"]
    native = upload(openai_server.http_url, meeting_wav, model=served)
    assert native.status_code == 201 and native.json()["status"] == "pending"
    forced = httpx.post(
        f"{openai_server.http_url}{JOBS}",
        files={"file": ("a.wav", meeting_wav)},
        data={"model": "whisper-1"},
        headers={"Prefer": "respond-async"},
    )
    assert forced.status_code == 201
    assert wait_for_status(openai_server.http_url, forced.json()["id"])["status"] == "completed"


def test_openai_prefix_serves_any_model_name(openai_server, meeting_wav, speech) -> None:
    prefixed = openai.OpenAI(base_url=f"{openai_server.http_url}/openai/v1", api_key="x", timeout=300, max_retries=0)
    result = prefixed.audio.transcriptions.create(model="whisper-large-v3", file=("a.wav", meeting_wav))
    assert word_error_rate(speech.text, result.text) < 0.2
    ids = {model.id for model in prefixed.models.list()}
    assert {"whisper-1", "gpt-4o-transcribe-diarize", "meeting-notes"} <= ids


def test_errors_in_openai_shape(client, meeting_wav) -> None:
    with pytest.raises(openai.BadRequestError) as bad_format:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", meeting_wav), response_format="docx")
    assert bad_format.value.body["type"] == "invalid_request_error"
    assert bad_format.value.body["param"] == "response_format"
    with pytest.raises(openai.BadRequestError) as not_audio:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"this is not audio"))
    assert not_audio.value.body["param"] == "file"
    with pytest.raises(openai.BadRequestError) as logprobs:
        client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", meeting_wav), include=["logprobs"])
    assert logprobs.value.body["param"] == "include"
    with pytest.raises(openai.BadRequestError) as translation:
        client.audio.translations.create(model="whisper-1", file=("a.wav", meeting_wav))
    assert translation.value.body["code"] == "unsupported_endpoint"
