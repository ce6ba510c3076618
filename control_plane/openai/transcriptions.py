"""``POST /v1/audio/transcriptions`` answered as OpenAI does: a job made, waited for and shaped (200).

The native handler hands a request here when its ``model`` is an OpenAI name (and no ``Prefer:
respond-async``); under ``/openai/v1/`` every request comes here. The job asks only for the stages
its answer needs: diarization only for ``gpt-4o-transcribe-diarize`` or ``diarized_json``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import FormMultiDict, State, UploadFile
from litestar.response import ServerSentEvent, ServerSentEventMessage

from control_plane.openai.errors import SERVER_ERROR, OpenAIError
from control_plane.openai.formats import ResponseFormat, render, stream_events
from control_plane.openai.models import DIARIZE_MODEL, OPENAI_PREFIX, WHISPER_1, openai_names
from control_plane.uploads import JobDidNotComplete, finished_transcript, submit
from core.audio.decoding import InvalidAudioFile
from core.jobs.params import JobParams, SpeakerDetection
from core.jobs.submission import JobNotQueued
from core.persistence.jobs import JobView
from core.transcript import Transcript

JOB_ID_HEADER = "x-tandem-job-id"
_GRANULARITIES = {"word", "segment"}
_UNSUPPORTED_INCLUDES = {"logprobs"}


class OpenAIRequest(msgspec.Struct, kw_only=True):
    """The form fields of OpenAI's ``transcriptions.create`` that change Tandem's answer."""

    model: str
    """The OpenAI model the request behaves as (an alias resolved, an unknown name served as ``whisper-1``)."""
    response_format: ResponseFormat = ResponseFormat.JSON
    granularities: set[str] = set()
    language: str = "auto"
    stream: bool = False


def wants_openai_answer(request: Request, fields: dict[str, str]) -> bool:
    """Whether a ``POST /v1/audio/transcriptions`` is answered as OpenAI's (else: the native 201 + job)."""
    if "respond-async" in request.headers.get("prefer", ""):
        return False
    return fields.get("model", "") in openai_names(request.app.state.settings)


@post([f"{OPENAI_PREFIX}/audio/transcriptions"], status_code=200)
async def openai_transcriptions(request: Request) -> Response[Any]:
    """OpenAI's ``transcriptions.create``, whatever the model name (an unknown one is served by the default)."""
    form = await request.form()
    return await answer(request, form)


@post([f"{OPENAI_PREFIX}/audio/translations", "/v1/audio/translations"], status_code=200)
async def openai_translations() -> None:
    """Not served: Tandem transcribes in the spoken language."""
    raise OpenAIError("translations are not supported; use /v1/audio/transcriptions", code="unsupported_endpoint")


async def answer(request: Request, form: FormMultiDict) -> Response[Any]:
    """Transcribe the upload as a job, wait for it and answer in the requested ``response_format``."""
    state = request.app.state
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise OpenAIError(
            "a multipart `file` field with the audio is required", param="file", code="missing_required_parameter"
        )
    parsed = parse_request(form, openai_names(state.settings))
    view = await _submit(request, upload, job_params(parsed, form.get("model") or parsed.model))
    headers = {JOB_ID_HEADER: view.id}
    if parsed.stream and parsed.model != WHISPER_1:
        return ServerSentEvent(_stream(state, view.id, parsed), headers=headers, status_code=200)
    transcript = await _finished_transcript(state, view.id)
    return render(transcript, parsed.response_format, parsed.granularities, headers)


def parse_request(form: FormMultiDict, names: dict[str, str]) -> OpenAIRequest:
    """The request's fields, checked; raises :class:`OpenAIError` naming the bad ``param``."""
    fields = {key: value for key, value in form.items() if isinstance(value, str) and value != ""}
    raw_format = fields.get("response_format", ResponseFormat.JSON.value)
    try:
        response_format = ResponseFormat(raw_format)
    except ValueError:
        accepted = ", ".join(f.value for f in ResponseFormat)
        raise OpenAIError(
            f"response_format {raw_format!r} is not supported; use one of {accepted}",
            param="response_format",
            code="invalid_value",
        ) from None
    granularities = set(form.getall("timestamp_granularities[]", [])) | set(form.getall("timestamp_granularities", []))
    if granularities - _GRANULARITIES:
        raise OpenAIError(
            "timestamp_granularities[] accepts `word` and `segment`",
            param="timestamp_granularities",
            code="invalid_value",
        )
    includes = set(form.getall("include[]", [])) | set(form.getall("include", []))
    if includes & _UNSUPPORTED_INCLUDES:
        raise OpenAIError(
            "include[]=logprobs is not supported by this server", param="include", code="unsupported_value"
        )
    temperature = fields.get("temperature")
    if temperature is not None:
        try:
            if not 0 <= float(temperature) <= 1:
                raise ValueError
        except ValueError:
            raise OpenAIError(
                "temperature must be a number between 0 and 1", param="temperature", code="invalid_value"
            ) from None
    return OpenAIRequest(
        model=names.get(fields.get("model", ""), WHISPER_1),
        response_format=response_format,
        granularities=granularities,
        language=fields.get("language", "auto"),
        stream=fields.get("stream", "false").lower() == "true",
    )


def job_params(parsed: OpenAIRequest, model_name: str) -> JobParams:
    """Only what the answer needs: speakers for the diarizing model or ``diarized_json``, nothing optional."""
    diarize = parsed.model == DIARIZE_MODEL or parsed.response_format is ResponseFormat.DIARIZED_JSON
    return JobParams(
        language=parsed.language,
        model=model_name,
        speaker_detection=SpeakerDetection.DIARIZE if diarize else SpeakerDetection.NONE,
    )


async def _submit(request: Request, upload: UploadFile, params: JobParams) -> JobView:
    try:
        return await submit(request, upload, params)
    except InvalidAudioFile as exc:
        raise OpenAIError(f"the file is not usable audio: {exc}", param="file", code="invalid_value") from exc
    except JobNotQueued as exc:
        raise OpenAIError(str(exc), code="queue_unavailable", status_code=503, error_type=SERVER_ERROR) from exc


async def _finished_transcript(state: State, job_id: str) -> Transcript:
    try:
        return await finished_transcript(state, job_id)
    except JobDidNotComplete as exc:
        raise OpenAIError(str(exc), code="job_failed", status_code=500, error_type=SERVER_ERROR) from exc


async def _stream(state: State, job_id: str, parsed: OpenAIRequest) -> AsyncIterator[ServerSentEventMessage]:
    try:
        transcript = await _finished_transcript(state, job_id)
    except OpenAIError as exc:
        yield ServerSentEventMessage(data=msgspec.json.encode({"error": exc.detail}).decode())
        return
    with_segments = parsed.model == DIARIZE_MODEL or parsed.response_format is ResponseFormat.DIARIZED_JSON
    for event in stream_events(transcript, with_segments=with_segments):
        yield ServerSentEventMessage(data=msgspec.json.encode(event).decode())
