"""REST resource of enrolled speakers: a name and a voice sample, whose voiceprint names diarized speakers."""

from __future__ import annotations

import anyio
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State, UploadFile
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath

from control_plane.auth.principal import tenant_of
from control_plane.rest import app_state
from control_plane.rest.errors import ApiError, api_error_handler, validation_error_handler
from control_plane.rest.schemas import ErrorResponse, SpeakerListResponse, SpeakerResponse
from core.audio.decoding import InvalidAudioFile, decode_audio, probe_audio
from core.inference import InferenceClient, InferenceFailed, InferenceUnavailable
from core.persistence import speakers as repository
from core.storage.keys import speaker_prefix, speaker_sample_key
from core.voiceprints import SampleTooShort, voiceprint

SPEAKERS_PATH = "/v1/speakers"
MAX_NAME_CHARS = 256
MAX_SAMPLE_S = 300.0
"""Longer samples are refused (a voiceprint needs seconds, and the sample is decoded whole)."""

_NOT_FOUND = {404: ResponseSpec(ErrorResponse, description="No such speaker")}
_ENROLL_ERRORS = {
    400: ResponseSpec(ErrorResponse, description="No name, no file or an empty file"),
    413: ResponseSpec(ErrorResponse, description="The upload is larger than the configured maximum"),
    422: ResponseSpec(
        ErrorResponse, description="Not decodable audio, too little speech for a voiceprint, or a sample too long"
    ),
    503: ResponseSpec(ErrorResponse, description="The model server is not available"),
}


class SpeakersController(Controller):
    """``/v1/speakers``: enrolled voices; diarized speakers matching one get its name."""

    path = SPEAKERS_PATH
    tags = ["speakers"]
    exception_handlers = {ApiError: api_error_handler, ValidationException: validation_error_handler}

    @post("", status_code=201, responses=_ENROLL_ERRORS)
    async def enroll_speaker(self, request: Request, state: State) -> SpeakerResponse:
        """Enroll a voice: multipart ``name`` and ``file`` (any supported audio format, at least 2 s of speech)."""
        form = await request.form()
        raw_name, upload = form.get("name"), form.get("file")
        name = " ".join(raw_name.split()) if isinstance(raw_name, str) else ""
        if not name or len(name) > MAX_NAME_CHARS:
            raise ApiError(400, "invalid_parameters", f"a multipart `name` of 1-{MAX_NAME_CHARS} characters is needed")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "invalid_parameters", "a multipart `file` field with the voice sample is required")
        try:
            info = await anyio.to_thread.run_sync(probe_audio, upload.file, upload.filename)
            if info.duration_s > MAX_SAMPLE_S:
                raise ApiError(
                    422, "sample_too_long", f"the sample is {info.duration_s:.0f} s; at most {MAX_SAMPLE_S:.0f} s"
                )
            audio = await anyio.to_thread.run_sync(decode_audio, upload.file)
        except InvalidAudioFile as exc:
            code = 400 if "empty" in str(exc) else 422
            raise ApiError(code, "invalid_audio", str(exc)) from exc
        inference = _inference(state)
        try:
            sample_print = await voiceprint(audio, inference)
            model = await inference.speaker_embedding_model()
        except SampleTooShort as exc:
            raise ApiError(422, "insufficient_speech", str(exc)) from exc
        except (InferenceUnavailable, InferenceFailed) as exc:
            raise ApiError(503, "model_unavailable", f"the speaker embedding model failed: {exc}") from exc
        speaker_id, tenant = repository.new_speaker_id(), tenant_of(request)
        sample_key = speaker_sample_key(speaker_id, info.extension)
        await upload.seek(0)
        await anyio.to_thread.run_sync(app_state.store(state).put_file, sample_key, upload.file)
        await upload.close()
        return await anyio.to_thread.run_sync(
            lambda: repository.create_speaker(
                app_state.database(state),
                tenant=tenant,
                speaker_id=speaker_id,
                name=name,
                embedding=[float(value) for value in sample_print.embedding],
                embedding_model=model,
                sample_key=sample_key,
                sample_seconds=sample_print.speech_s,
            )
        )

    @get("", sync_to_thread=True)
    def list_speakers(self, request: Request, state: State) -> SpeakerListResponse:
        """Every speaker the caller's tenant enrolled, oldest first."""
        return SpeakerListResponse(
            speakers=repository.list_speakers(app_state.database(state), tenant=tenant_of(request))
        )

    @get("/{speaker_id:str}", sync_to_thread=True, responses=_NOT_FOUND)
    def get_speaker(self, request: Request, state: State, speaker_id: FromPath[str]) -> SpeakerResponse:
        """One enrolled speaker."""
        view = repository.get_speaker(app_state.database(state), speaker_id, tenant=tenant_of(request))
        if view is None:
            raise ApiError(404, "speaker_not_found", f"no speaker {speaker_id}")
        return view

    @delete("/{speaker_id:str}", sync_to_thread=True, responses=_NOT_FOUND)
    def delete_speaker(self, request: Request, state: State, speaker_id: FromPath[str]) -> None:
        """Forget the speaker: its voiceprint and its stored sample."""
        try:
            repository.delete_speaker(app_state.database(state), speaker_id, tenant=tenant_of(request))
        except repository.SpeakerNotFoundError as exc:
            raise ApiError(404, "speaker_not_found", f"no speaker {speaker_id}") from exc
        app_state.store(state).delete_prefix(speaker_prefix(speaker_id))




def _inference(state: State) -> InferenceClient:
    return state.inference  # type: ignore[no-any-return]
