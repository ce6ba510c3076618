"""REST resource of realtime sessions: list, inspect, download and delete them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream

from control_plane.auth.principal import tenant_of
from control_plane.rest import app_state
from control_plane.rest.errors import ApiError, api_error_handler, validation_error_handler
from control_plane.rest.schemas import (
    EnhancementResponse,
    ErrorResponse,
    SessionListResponse,
    SessionResponse,
)
from core.jobs.enhancement import EnhancementNotQueued, EnhancementUnavailable, enhance_session, enhancement_status
from core.jobs.result import load_transcript
from core.persistence import jobs as job_repository
from core.persistence import sessions as repository
from core.persistence.pagination import InvalidCursorError
from core.persistence.sessions import SessionView
from core.persistence.states import SessionStatus
from core.storage.base import ObjectNotFoundError
from core.storage.keys import (
    job_prefix,
    session_audio_key,
    session_prefix,
    session_transcript_key,
)

SESSIONS_PATH = "/v1/audio/transcriptions/stream"


_INVALID = {400: ResponseSpec(ErrorResponse, description="Invalid status, limit or cursor")}
_NOT_FOUND = {404: ResponseSpec(ErrorResponse, description="No such session, or nothing stored")}
_CONFLICT = {409: ResponseSpec(ErrorResponse, description="The session is still active, or not in a state for this")}


class SessionsController(Controller):
    """``/v1/audio/transcriptions/stream``: the sessions the WebSocket endpoint created."""

    path = SESSIONS_PATH
    tags = ["sessions"]
    exception_handlers = {ApiError: api_error_handler, ValidationException: validation_error_handler}

    @get("", sync_to_thread=True, responses=_INVALID)
    def list_sessions(
        self,
        request: Request,
        state: State,
        status: FromQuery[SessionStatus | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> SessionListResponse:
        """Sessions newest first, optionally only those with ``status``."""
        try:
            page = repository.list_sessions(
                app_state.database(state), status=status, limit=limit, cursor=cursor, tenant=tenant_of(request)
            )
        except InvalidCursorError as exc:
            raise ApiError(400, "invalid_parameters", "cursor: not a cursor this server issued") from exc
        return SessionListResponse(page.sessions, page.cursor, page.has_more)

    @get("/{session_id:str}", sync_to_thread=True, responses=_NOT_FOUND)
    def get_session(self, request: Request, state: State, session_id: FromPath[str]) -> SessionResponse:
        """One session with its totals and transcript."""
        return _existing_session(request, session_id)

    @get("/{session_id:str}/transcript", sync_to_thread=True, responses=_NOT_FOUND)
    def get_transcript(self, request: Request, state: State, session_id: FromPath[str]) -> Response[bytes]:
        """The stored ``transcript.json`` (sessions started with ``store_transcript``)."""
        _existing_session(request, session_id)
        try:
            content = app_state.store(state).get_bytes(session_transcript_key(session_id))
        except ObjectNotFoundError as exc:
            raise ApiError(404, "transcript_not_found", f"session {session_id} has no stored transcript") from exc
        return Response(content, media_type="application/json")

    @get("/{session_id:str}/audio", sync_to_thread=True, responses=_NOT_FOUND | _CONFLICT)
    def get_audio(self, request: Request, state: State, session_id: FromPath[str]) -> Stream:
        """The recorded WAV (16-bit PCM at the session's sample rate), streamed."""
        view = _existing_session(request, session_id)
        if view.status is SessionStatus.ACTIVE:
            raise ApiError(409, "session_active", f"session {session_id} is still recording")
        if view.audio_uri is None:  # none was kept, or it failed: whatever the store holds is not it
            raise ApiError(404, "audio_not_found", f"session {session_id} has no recorded audio")
        store, key = app_state.store(state), session_audio_key(session_id)
        try:
            size = store.size(key)
            chunks: Iterator[bytes] = store.open_read(key)
        except ObjectNotFoundError as exc:
            raise ApiError(404, "audio_not_found", f"session {session_id} has no recorded audio") from exc
        return Stream(chunks, media_type="audio/wav", headers={"Content-Length": str(size)})

    @get("/{session_id:str}/enhancement", sync_to_thread=True, responses=_NOT_FOUND)
    def get_enhancement(self, request: Request, state: State, session_id: FromPath[str]) -> EnhancementResponse:
        """The session's enhancement job: status, and the enhanced transcript once completed."""
        return _enhancement(state, _existing_session(request, session_id))

    @post("/{session_id:str}/enhance", status_code=201, sync_to_thread=True, responses=_NOT_FOUND | _CONFLICT)
    def enhance(self, request: Request, state: State, session_id: FromPath[str]) -> EnhancementResponse:
        """Enhance a finished session from its stored audio (409 if a job exists or nothing was recorded)."""
        session = _existing_session(request, session_id)
        try:
            enhance_session(app_state.database(state), app_state.store(state), app_state.job_queue(state), session)
        except EnhancementUnavailable as exc:
            raise ApiError(409, "enhancement_unavailable", str(exc)) from exc
        except EnhancementNotQueued as exc:
            raise ApiError(503, "queue_unavailable", str(exc)) from exc
        return _enhancement(state, _existing_session(request, session_id))

    @delete("/{session_id:str}", sync_to_thread=True, responses=_NOT_FOUND | _CONFLICT)
    def delete_session(self, request: Request, state: State, session_id: FromPath[str]) -> None:
        """Remove the session's record, everything under ``sessions/{id}/``, and its enhancement jobs
        with their ``jobs/{job_id}/`` objects (a running one stops under its worker)."""
        view = _existing_session(request, session_id)
        if view.status is SessionStatus.ACTIVE:
            raise ApiError(409, "session_active", f"session {session_id} is active; end it first")
        try:
            job_ids = repository.delete_session(app_state.database(state), session_id, tenant=tenant_of(request))
        except repository.SessionNotFoundError:  # deleted concurrently: the same outcome
            job_ids = []
        except repository.SessionActiveError as exc:
            raise ApiError(409, "session_active", f"session {session_id} is active; end it first") from exc
        store = app_state.store(state)
        store.delete_prefix(session_prefix(session_id))
        for job_id in job_ids:
            store.delete_prefix(job_prefix(job_id))


def _enhancement(state: State, session: SessionView) -> EnhancementResponse:
    job_id = session.enhancement_job_id
    job = job_repository.get_job(app_state.database(state), job_id) if job_id else None
    status = enhancement_status(job)
    transcript = load_transcript(app_state.store(state), job.id) if job is not None and status == "completed" else None
    return EnhancementResponse(
        session_id=session.id,
        enhancement_job_id=session.enhancement_job_id,
        status=status,
        transcript=transcript,
        error=job.error if job is not None else None,
    )


def _existing_session(request: Request, session_id: str) -> SessionView:
    """The caller's session ``session_id``; 404 for a missing one and for another tenant's."""
    view = repository.get_session(app_state.database(request.app.state), session_id, tenant=tenant_of(request))
    if view is None:
        raise ApiError(404, "session_not_found", f"no session {session_id}")
    return view
