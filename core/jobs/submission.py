"""Submitting an uploaded file as a job: checked, stored, recorded and queued.

Every front door that accepts uploads (the native jobs API, the OpenAI and ElevenLabs doors)
submits through :func:`submit_upload`, so a job is the same whoever asked for it.
"""

from __future__ import annotations

from typing import BinaryIO

import structlog

from core.audio.decoding import InvalidAudioFile, probe_audio
from core.jobs.params import JobParams
from core.jobs.queue import JobQueue
from core.persistence import jobs as repository
from core.persistence.database import Database
from core.persistence.jobs import JobSource, JobView
from core.persistence.states import JobStatus
from core.storage.base import ObjectStore
from core.storage.keys import job_input_key, job_prefix

log = structlog.get_logger(__name__)


class AudioTooLong(InvalidAudioFile):
    """The audio lasts longer than ``TANDEM_MAX_AUDIO_S``; the message gives both."""


class JobNotQueued(RuntimeError):
    """The job row exists (``failed``, with the reason) but the queue (Redis) refused it."""


def submit_upload(
    database: Database,
    store: ObjectStore,
    job_queue: JobQueue,
    tenant: str,
    file: BinaryIO,
    filename: str | None,
    params: JobParams,
    max_audio_s: float | None = None,
) -> JobView:
    """Probe ``file`` (raises ``InvalidAudioFile``, or :class:`AudioTooLong` past ``max_audio_s``), store it,
    create ``tenant``'s job and queue its run. When the row cannot be written the stored file is removed.

    Blocking: call it from a worker thread.
    """
    try:
        info = probe_audio(file, filename)
    finally:
        file.seek(0)
    if max_audio_s and info.duration_s > max_audio_s:
        raise AudioTooLong(
            f"the audio lasts {info.duration_s:.0f} s; the limit is {max_audio_s:.0f} s (TANDEM_MAX_AUDIO_S)"
        )
    job_id = repository.new_job_id()
    input_key = job_input_key(job_id, info.extension)
    store.put_file(input_key, file)
    try:
        view = repository.create_job(
            database, tenant=tenant, job_id=job_id, source=JobSource.UPLOAD, params=params, input_key=input_key
        )
    except Exception:
        log.exception("job.insert_failed", job_id=job_id, input_key=input_key)
        store.delete_prefix(job_prefix(job_id))
        raise
    try:
        job_queue.enqueue_run(job_id)
    except Exception as exc:
        repository.finish_job(database, job_id, JobStatus.FAILED, error=f"the job could not be queued: {exc}")
        raise JobNotQueued("the job queue (Redis) is not available; try again") from exc
    return view
