"""The body of a job as clients see it (REST, SSE, webhooks, the live socket's push).

While a job runs it is its row (status, progress, stages); once completed the transcript
artifact's fields are added (``text``, ``segments``, ``speakers``, ``words``...).
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from core.persistence.jobs import JobFields, JobView
from core.persistence.states import JobStatus
from core.storage.base import ObjectNotFoundError, ObjectStore
from core.storage.keys import job_transcript_key
from core.transcript import Overlap, Segment, Speaker, Transcript, Word


class JobBody(JobFields, kw_only=True):
    """``GET /v1/audio/transcriptions/{id}``: the job row's fields; the transcript's only once completed."""

    language: str | UnsetType = UNSET
    language_code: str | UnsetType = UNSET
    """The same as ``language``, under the name Dalston's clients read."""
    duration: float | UnsetType = UNSET
    text: str | UnsetType = UNSET
    segments: list[Segment] | UnsetType = UNSET
    speakers: list[Speaker] | UnsetType = UNSET
    words: list[Word] | UnsetType = UNSET
    overlaps: list[Overlap] | UnsetType = UNSET
    """Stretches where two people speak at once (with ``speaker_detection=diarize``)."""
    summary: str | None | UnsetType = UNSET


def load_transcript(store: ObjectStore, job_id: str) -> Transcript | None:
    """The job's stored transcript artifact, or ``None`` if there is none."""
    try:
        return msgspec.json.decode(store.get_bytes(job_transcript_key(job_id)), type=Transcript)
    except ObjectNotFoundError:
        return None


def job_body(view: JobView, transcript: Transcript | None = None) -> JobBody:
    body = JobBody(**{name: getattr(view, name) for name in JobFields.__struct_fields__})
    if transcript is not None:
        body.language = body.language_code = transcript.language
        body.duration = transcript.duration
        body.text = transcript.text
        body.segments = transcript.segments
        body.speakers = transcript.speakers
        body.words = transcript.words
        body.overlaps = transcript.overlaps
        body.summary = transcript.summary
    return body


def completed_job_body(store: ObjectStore, view: JobView) -> JobBody:
    """The body with the transcript when the job completed, without it otherwise."""
    transcript = load_transcript(store, view.id) if view.status is JobStatus.COMPLETED else None
    return job_body(view, transcript)
