"""The compatible doors with API keys on: each SDK sends its key its own way, and tenants stay apart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest
from elevenlabs import ElevenLabs
from elevenlabs.core.api_error import ApiError

from clients.jobs_client import wav_bytes
from launchers.serve_process import ServeProcess
from tests.auth_helpers import create_key
from tests.stack_fixtures import server_with_worker


@pytest.fixture(scope="module")
def keyed(triton, tmp_path_factory) -> Iterator[ServeProcess]:
    with server_with_worker(tmp_path_factory.mktemp("compat-keys"), triton.endpoints, TANDEM_AUTH="keys") as server:
        yield server


def test_sdk_keys_and_tenants(keyed: ServeProcess, speech) -> None:
    acme = create_key(keyed, "acme", "jobs:read,jobs:write,realtime")
    other = create_key(keyed, "other", "jobs:read,jobs:write")
    wav = wav_bytes(speech.audio)
    base_url = f"{keyed.http_url}/v1"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base_url, api_key="tk_wrong", max_retries=0).models.list()
    raw = openai.OpenAI(
        base_url=base_url, api_key=acme, timeout=300, max_retries=0
    ).audio.transcriptions.with_raw_response
    answer = raw.create(model="whisper-1", file=("a.wav", wav))
    job_id = answer.headers["x-tandem-job-id"]
    # ElevenLabs' SDK sends its key as xi-api-key: acme reads its transcript, another tenant gets 404
    transcript = ElevenLabs(base_url=keyed.http_url, api_key=acme).speech_to_text.transcripts.get(job_id)
    assert transcript.text == answer.parse().text
    with pytest.raises(ApiError) as hidden:
        ElevenLabs(base_url=keyed.http_url, api_key=other).speech_to_text.transcripts.get(job_id)
    assert hidden.value.status_code == 404

    async def realtime_session_type() -> str:
        client = openai.AsyncOpenAI(base_url=base_url, api_key=acme)
        async with client.realtime.connect(model="gpt-4o-transcribe", extra_query={"intent": "transcription"}) as conn:
            return (await conn.recv()).type

    assert asyncio.run(realtime_session_type()) == "session.created"
