"""REST resource of batch transcription jobs: upload, follow, cancel, export, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import msgspec
import structlog
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State, UploadFile
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from control_plane.auth.principal import tenant_of
from control_plane.openai.models import openai_names
from control_plane.openai.transcriptions import answer as openai_answer
from control_plane.openai.transcriptions import wants_openai_answer
from control_plane.rest import app_state
from control_plane.rest.errors import ApiError, api_error_handler, validation_error_handler
from control_plane.rest.schemas import ErrorResponse, JobCancelled, JobCreated, JobListResponse, JobResponse
from control_plane.uploads import submit
from core.audio.decoding import InvalidAudioFile
from core.exports import ExportFormat, SubtitleOptions, to_srt, to_text, to_vtt
from core.jobs.events import watch_job
from core.jobs.params import JobParams, check_served, parse_job_params
from core.jobs.result import completed_job_body, job_body, load_transcript
from core.jobs.submission import AudioTooLong, JobNotQueued
from core.metrics import JOBS
from core.persistence import jobs as repository
from core.persistence.database import Database
from core.persistence.jobs import JobView
from core.persistence.pagination import InvalidCursorError
from core.persistence.states import JobStatus
from core.storage.base import ObjectStore
from core.storage.keys import job_prefix
from core.webhook_urls import InvalidWebhookUrl, resolve_webhook_target

JOBS_PATH = "/v1/audio/transcriptions"

log = structlog.get_logger(__name__)

_INVALID = {400: ResponseSpec(ErrorResponse, description="Invalid parameters")}
_NOT_FOUND = {404: ResponseSpec(ErrorResponse, description="No such job")}
_CONFLICT = {409: ResponseSpec(ErrorResponse, description="Not possible in the job's current status")}
_UPLOAD_ERRORS = {
    400: ResponseSpec(ErrorResponse, description="No file, an empty file or invalid fields"),
    413: ResponseSpec(ErrorResponse, description="The upload is larger than the configured maximum"),
    422: ResponseSpec(ErrorResponse, description="The file is not decodable audio (corrupt, truncated, not audio)"),
}


class JobsController(Controller):
    """``/v1/audio/transcriptions``: batch jobs run by the workers."""

    path = JOBS_PATH
    tags = ["jobs"]
    exception_handlers = {ApiError: api_error_handler, ValidationException: validation_error_handler}

    @post("", status_code=201, responses=_UPLOAD_ERRORS)
    async def create_job(self, request: Request, state: State) -> JobCreated:
        """Upload audio (multipart ``file``) and queue its transcription; unknown fields are ignored.

        An OpenAI model name (``whisper-1``...) is answered synchronously as OpenAI does (200, the transcript),
        unless the request says ``Prefer: respond-async``.
        """
        form = await request.form()
        if wants_openai_answer(request, {key: value for key, value in form.items() if isinstance(value, str)}):
            return await openai_answer(request, form)  # type: ignore[return-value]
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "invalid_parameters", "a multipart `file` field with the audio is required")
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        # a job forced by ``Prefer: respond-async``: an OpenAI model name stands for the default batch model
        if fields.get("model", "") in openai_names(app_state.settings(state)):
            fields["model"] = ""
        try:
            params = parse_job_params(fields)
            check_served(params, state.batch_model)
        except ValueError as exc:
            raise ApiError(400, "invalid_parameters", str(exc)) from exc
        if params.webhook_url is not None:
            await _check_webhook_url(state, params.webhook_url)
        view = await _submit(request, upload, params)
        return JobCreated(id=view.id, status=view.status, created_at=view.created_at)

    @get("", sync_to_thread=True, responses=_INVALID)
    def list_jobs(
        self,
        request: Request,
        state: State,
        status: FromQuery[JobStatus | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        cursor: FromQuery[str | None] = None,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
    ) -> JobListResponse:
        """Jobs newest first (``cursor`` from the previous page, or ``offset``)."""
        try:
            page = repository.list_jobs(
                app_state.database(state),
                status=status,
                limit=limit,
                cursor=cursor,
                offset=offset,
                tenant=tenant_of(request),
            )
        except InvalidCursorError as exc:
            raise ApiError(400, "invalid_parameters", "cursor: not a cursor this server issued") from exc
        return JobListResponse(
            jobs=[job_body(view) for view in page.jobs],
            cursor=page.cursor,
            has_more=page.has_more,
            total=page.total,
            limit=limit,
            offset=offset,
        )

    @get("/{job_id:str}", sync_to_thread=True, responses=_NOT_FOUND)
    def get_job(self, request: Request, state: State, job_id: FromPath[str]) -> JobResponse:
        """The job's status and progress; its transcript once completed."""
        return completed_job_body(app_state.store(state), _existing_job(request, job_id))

    @post("/{job_id:str}/cancel", status_code=200, sync_to_thread=True, responses=_NOT_FOUND | _CONFLICT)
    def cancel_job(self, request: Request, state: State, job_id: FromPath[str]) -> JobCancelled:
        """Cancel: a pending job at once, a running one at its next stage boundary."""
        try:
            view = repository.request_cancel(app_state.database(state), job_id, tenant=tenant_of(request))
        except repository.JobNotFoundError as exc:
            raise ApiError(404, "job_not_found", f"no job {job_id}") from exc
        except repository.JobFinishedError as exc:
            raise ApiError(409, "job_finished", f"job {job_id} has already finished") from exc
        if view.status is JobStatus.CANCELLED:  # a pending job, cancelled before any worker took it
            JOBS.labels(status=view.status.value).inc()
            if view.params.webhook_url:
                app_state.job_queue(state).enqueue_webhook(job_id)
        return JobCancelled(id=view.id, status=view.status)

    @delete("/{job_id:str}", sync_to_thread=True, responses=_NOT_FOUND | _CONFLICT)
    def delete_job(self, request: Request, state: State, job_id: FromPath[str]) -> None:
        """Remove the job's row and everything stored under ``jobs/{id}/`` (409 while it runs: cancel it first)."""
        try:
            repository.delete_job(app_state.database(state), job_id, tenant=tenant_of(request))
        except repository.JobNotFoundError as exc:
            raise ApiError(404, "job_not_found", f"no job {job_id}") from exc
        except repository.JobActiveError as exc:
            raise ApiError(409, "job_running", f"job {job_id} is running; cancel it first") from exc
        app_state.store(state).delete_prefix(job_prefix(job_id))

    @get("/{job_id:str}/export/{export_format:str}", sync_to_thread=True, responses=_NOT_FOUND | _CONFLICT | _INVALID)
    def export_job(
        self,
        request: Request,
        state: State,
        job_id: FromPath[str],
        export_format: FromPath[str],
        include_speakers: bool = True,
        max_line_length: Annotated[int, QueryParameter(ge=10, le=200)] = 42,
        max_lines: Annotated[int, QueryParameter(ge=1, le=10)] = 2,
    ) -> Response[Any]:
        """The transcript as ``txt``, ``json``, ``srt`` or ``vtt`` (409 until the job completed)."""
        try:
            fmt = ExportFormat(export_format)
        except ValueError as exc:
            raise ApiError(400, "invalid_parameters", "format must be one of txt, json, srt, vtt") from exc
        view = _existing_job(request, job_id)
        transcript = load_transcript(app_state.store(state), job_id) if view.status is JobStatus.COMPLETED else None
        if transcript is None:
            raise ApiError(409, "job_not_completed", f"job {job_id} is {view.status.value}, not completed")
        if fmt is ExportFormat.JSON:
            return Response(job_body(view, transcript), media_type="application/json")
        options = SubtitleOptions(include_speakers, max_line_length, max_lines)
        rendered = {
            ExportFormat.TXT: (lambda: to_text(transcript, include_speakers), "text/plain; charset=utf-8"),
            ExportFormat.SRT: (lambda: to_srt(transcript, options), "application/x-subrip; charset=utf-8"),
            ExportFormat.VTT: (lambda: to_vtt(transcript, options), "text/vtt; charset=utf-8"),
        }[fmt]
        headers = {"Content-Disposition": f'attachment; filename="{job_id}.{fmt.value}"'}
        return Response(rendered[0](), media_type=rendered[1], headers=headers)

    @get("/{job_id:str}/events", responses=_NOT_FOUND)
    async def job_events(self, request: Request, state: State, job_id: FromPath[str]) -> ServerSentEvent:
        """Server-Sent Events: ``progress`` while the job runs, then one event named after its final status."""
        await anyio.to_thread.run_sync(_existing_job, request, job_id)
        return ServerSentEvent(_job_event_stream(app_state.database(state), app_state.store(state), job_id))


async def _job_event_stream(
    database: Database, store: ObjectStore, job_id: str
) -> AsyncIterator[ServerSentEventMessage]:
    async for view in watch_job(database, job_id):
        if view.finished:
            body = await anyio.to_thread.run_sync(completed_job_body, store, view)
            yield ServerSentEventMessage(data=msgspec.json.encode(body).decode(), event=view.status.value, id=view.id)
        else:
            body = job_body(view)
            yield ServerSentEventMessage(data=msgspec.json.encode(body).decode(), event="progress", id=view.id)


async def _submit(request: Request, upload: UploadFile, params: JobParams) -> JobView:
    try:
        return await submit(request, upload, params)
    except AudioTooLong as exc:
        raise ApiError(413, "audio_too_long", str(exc)) from exc
    except InvalidAudioFile as exc:
        raise ApiError(400 if "empty" in str(exc) else 422, "invalid_audio", str(exc)) from exc
    except JobNotQueued as exc:
        raise ApiError(503, "queue_unavailable", str(exc)) from exc


async def _check_webhook_url(state: State, url: str) -> None:
    """400 ``invalid_webhook_url`` unless ``url`` is http(s) to a public address (or private ones are allowed)."""
    allow_private = app_state.settings(state).webhook_allow_private
    try:
        await anyio.to_thread.run_sync(lambda: resolve_webhook_target(url, allow_private=allow_private))
    except InvalidWebhookUrl as exc:
        raise ApiError(400, "invalid_webhook_url", str(exc)) from exc


def _existing_job(request: Request, job_id: str) -> JobView:
    """The caller's job ``job_id``; 404 for a missing one and for another tenant's."""
    view = repository.get_job(app_state.database(request.app.state), job_id, tenant=tenant_of(request))
    if view is None:
        raise ApiError(404, "job_not_found", f"no job {job_id}")
    return view
