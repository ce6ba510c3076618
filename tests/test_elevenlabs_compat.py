"""The ElevenLabs door driven by ElevenLabs' own Python SDK against a real stack."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from elevenlabs import ElevenLabs
from elevenlabs.core.api_error import ApiError

from benchmarks.speech import word_error_rate
from clients.jobs_client import JOBS_PATH as JOBS
from clients.jobs_client import wait_for_status, wav_bytes
from launchers.serve_process import ServeProcess
from tests.stack_fixtures import server_with_worker


@pytest.fixture(scope="module")
def elevenlabs_server(triton, tmp_path_factory) -> Iterator[ServeProcess]:
    with server_with_worker(tmp_path_factory.mktemp("elevenlabs"), triton.endpoints) as server:
        yield server


@pytest.fixture(scope="module")
def client(elevenlabs_server: ServeProcess) -> ElevenLabs:
    return ElevenLabs(base_url=elevenlabs_server.http_url, api_key="unused", timeout=300)


@pytest.fixture(scope="module")
def meeting_wav(speech) -> bytes:
    return wav_bytes(speech.audio)


def test_convert_with_diarization_words_and_spacing(client, meeting_wav, speech) -> None:
    result = client.speech_to_text.convert(
        model_id="scribe_v1", file=("meeting.wav", meeting_wav), diarize=True, language_code="en"
    )
    assert word_error_rate(speech.text, result.text) < 0.2
    assert result.language_code == "en" and result.transcription_id
    kinds = [word.type for word in result.words]
    assert kinds[0] == "word" and kinds[1] == "spacing" and set(kinds) == {"word", "spacing"}
    assert all(word.logprob <= 0 for word in result.words)
    speakers = [word.speaker_id for word in result.words if word.type == "word"]
    assert speakers[0] == "speaker_0" and "speaker_1" in speakers and set(speakers) == {"speaker_0", "speaker_1"}
    fetched = client.speech_to_text.transcripts.get(result.transcription_id)
    assert fetched.text == result.text


def test_webhook_answers_at_once_and_the_transcript_is_fetched_later(
    client, elevenlabs_server, meeting_wav, speech
) -> None:
    accepted = client.speech_to_text.convert(
        model_id="scribe_v1", file=("meeting.wav", meeting_wav), webhook=True, timestamps_granularity="character"
    )
    assert accepted.message and accepted.request_id and accepted.transcription_id
    job = wait_for_status(elevenlabs_server.http_url, accepted.transcription_id)
    assert job["status"] == "completed" and "diarize" not in [stage["name"] for stage in job["stages"]]
    transcript = client.speech_to_text.transcripts.get(accepted.transcription_id)
    assert word_error_rate(speech.text, transcript.text) < 0.2
    assert all(word.speaker_id == "speaker_0" for word in transcript.words)
    assert accepted.transcription_id in {
        j["id"] for j in httpx.get(f"{elevenlabs_server.http_url}{JOBS}").json()["jobs"]
    }


def test_null_fields_are_absent_and_errors_are_elevenlabs_shaped(client, elevenlabs_server, meeting_wav) -> None:
    response = httpx.post(
        f"{elevenlabs_server.http_url}/v1/speech-to-text",
        files={"file": ("a.wav", meeting_wav)},
        data={
            "model_id": "scribe_v1",
            "language_code": "null",
            "num_speakers": "null",
            "timestamps_granularity": "none",
        },
        timeout=300,
    )
    assert response.status_code == 200 and response.json()["words"] == []
    with pytest.raises(ApiError) as not_audio:
        client.speech_to_text.convert(model_id="scribe_v1", file=("a.wav", b"not audio at all"))
    assert not_audio.value.status_code == 400 and not_audio.value.body["detail"]["status"] == "invalid_audio"
    with pytest.raises(ApiError) as unknown:
        client.speech_to_text.transcripts.get("no-such-transcript")
    assert unknown.value.status_code == 404
