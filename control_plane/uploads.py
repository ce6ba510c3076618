"""Synchronous answers of any front door: an upload submitted as a job, its transcript once finished
(each door maps the errors to its own shape)."""

from __future__ import annotations

import anyio
from litestar import Request
from litestar.datastructures import State, UploadFile

from control_plane.auth.principal import tenant_of
from control_plane.rest import app_state
from core.jobs.events import wait_for_job
from core.jobs.params import JobParams
from core.jobs.result import load_transcript
from core.jobs.submission import submit_upload
from core.persistence.jobs import JobView
from core.persistence.states import JobStatus
from core.transcript import Transcript


class JobDidNotComplete(RuntimeError):
    """The job failed, was cancelled or disappeared; the message says why."""


async def submit(request: Request, upload: UploadFile, params: JobParams) -> JobView:
    """The caller's job of ``upload``.

    Raises ``InvalidAudioFile`` (``AudioTooLong`` past ``TANDEM_MAX_AUDIO_S``) or ``JobNotQueued``
    (``core.jobs.submission``).
    """
    state = request.app.state
    try:
        return await anyio.to_thread.run_sync(
            submit_upload,
            app_state.database(state),
            app_state.store(state),
            app_state.job_queue(state),
            tenant_of(request),
            upload.file,
            upload.filename,
            params,
            app_state.settings(state).max_audio_s,
        )
    finally:
        await upload.close()


async def finished_transcript(state: State, job_id: str) -> Transcript:
    """Wait for the job; its transcript once completed (raises :class:`JobDidNotComplete` otherwise)."""
    view = await wait_for_job(app_state.database(state), job_id)
    transcript = None
    if view is not None and view.status is JobStatus.COMPLETED:
        transcript = await anyio.to_thread.run_sync(load_transcript, app_state.store(state), job_id)
    if transcript is None:
        reason = view.error if view is not None and view.error else "the transcription job did not complete"
        raise JobDidNotComplete(f"job {job_id}: {reason}")
    return transcript
