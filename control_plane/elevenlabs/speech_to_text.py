"""``POST /v1/speech-to-text`` and ``GET /v1/speech-to-text/transcripts/{id}`` as ElevenLabs answers them.

A request is a Tandem job (listed with the others); the synchronous answer waits for it, ``webhook=true``
answers at once with the job id as ``transcription_id`` (the transcript is then fetched by id).
"""

from __future__ import annotations

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.params import FromPath

from control_plane.auth.principal import tenant_of
from control_plane.elevenlabs.errors import ElevenLabsError, elevenlabs_error_handler
from control_plane.elevenlabs.words import ElevenLabsWord, elevenlabs_words
from control_plane.rest import app_state
from control_plane.uploads import JobDidNotComplete, finished_transcript, submit
from core.audio.decoding import InvalidAudioFile
from core.jobs.params import JobParams, SpeakerDetection
from core.jobs.result import load_transcript
from core.jobs.submission import JobNotQueued
from core.persistence import jobs as repository
from core.persistence.states import JobStatus
from core.transcript import Transcript

SPEECH_TO_TEXT_PATH = "/v1/speech-to-text"
_GRANULARITIES = ("none", "word", "character")


class SpeechToTextChunk(msgspec.Struct):
    language_code: str
    language_probability: float
    text: str
    words: list[ElevenLabsWord]
    transcription_id: str
    audio_duration_secs: float


class WebhookAccepted(msgspec.Struct):
    message: str
    request_id: str
    transcription_id: str


class SpeechToTextController(Controller):
    """ElevenLabs' speech-to-text API over Tandem's jobs."""

    path = SPEECH_TO_TEXT_PATH
    tags = ["elevenlabs"]
    exception_handlers = {ElevenLabsError: elevenlabs_error_handler}

    @post("", status_code=200)
    async def convert(self, request: Request, state: State) -> Response[SpeechToTextChunk | WebhookAccepted]:
        """Transcribe ``file``; with ``webhook=true`` answer at once (202) and keep the transcript for later."""
        form = await request.form()
        fields = {key: value for key, value in form.items() if isinstance(value, str) and value not in ("", "null")}
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            message = "a multipart `file` is required (cloud_storage_url and source_url are not supported)"
            raise ElevenLabsError(400, "invalid_request", message)
        granularity = fields.get("timestamps_granularity", "word")
        if granularity not in _GRANULARITIES:
            raise ElevenLabsError(400, "invalid_request", f"timestamps_granularity must be one of {_GRANULARITIES}")
        params = _job_params(fields)
        try:
            view = await submit(request, upload, params)
        except InvalidAudioFile as exc:
            raise ElevenLabsError(400, "invalid_audio", f"the file is not usable audio: {exc}") from exc
        except JobNotQueued as exc:
            raise ElevenLabsError(503, "service_unavailable", str(exc)) from exc
        if _flag(fields, "webhook"):
            accepted = WebhookAccepted("Request accepted; fetch the transcript by its id", view.id, view.id)
            return Response(accepted, status_code=202)
        try:
            transcript = await finished_transcript(state, view.id)
        except JobDidNotComplete as exc:
            raise ElevenLabsError(500, "transcription_failed", str(exc)) from exc
        return Response(chunk(view.id, transcript, granularity))

    @get("/transcripts/{transcription_id:str}")
    async def get_transcript(
        self, request: Request, state: State, transcription_id: FromPath[str]
    ) -> SpeechToTextChunk:
        """A finished transcription (404 unknown, 409 while it runs, 500 when it failed)."""
        view = await anyio.to_thread.run_sync(
            lambda: repository.get_job(app_state.database(state), transcription_id, tenant=tenant_of(request))
        )
        if view is None:
            raise ElevenLabsError(404, "transcript_not_found", f"no transcript {transcription_id}")
        if view.status is not JobStatus.COMPLETED:
            if view.finished:
                raise ElevenLabsError(500, "transcription_failed", view.error or f"the job was {view.status}")
            raise ElevenLabsError(409, "transcript_not_ready", f"transcript {transcription_id} is {view.status}")
        transcript = await anyio.to_thread.run_sync(load_transcript, app_state.store(state), transcription_id)
        if transcript is None:
            raise ElevenLabsError(404, "transcript_not_found", f"transcript {transcription_id} has no result")
        return chunk(transcription_id, transcript, "word")


def chunk(transcription_id: str, transcript: Transcript, granularity: str) -> SpeechToTextChunk:
    """The transcript in ElevenLabs' shape; ``granularity`` ``none`` leaves the words out."""
    words = transcript.words if granularity != "none" else []
    return SpeechToTextChunk(
        language_code=transcript.language,
        language_probability=1.0,
        text=transcript.text,
        words=elevenlabs_words(words, [w.speaker for w in words], characters=granularity == "character"),
        transcription_id=transcription_id,
        audio_duration_secs=round(transcript.duration, 3),
    )


def _job_params(fields: dict[str, str]) -> JobParams:
    diarize = _flag(fields, "diarize")
    try:
        num_speakers = int(fields["num_speakers"]) if diarize and "num_speakers" in fields else None
        return JobParams(
            language=fields.get("language_code", "auto"),
            model=fields.get("model_id", ""),
            speaker_detection=SpeakerDetection.DIARIZE if diarize else SpeakerDetection.NONE,
            num_speakers=num_speakers,
        ).validate()
    except ValueError as exc:
        raise ElevenLabsError(400, "invalid_request", str(exc)) from exc


def _flag(fields: dict[str, str], name: str) -> bool:
    return fields.get(name, "false").lower() == "true"
