"""Optional stage: an emotion for each transcript segment, from the ``emotion`` Triton model.

Each segment's audio slice and text go to Triton as one request; concurrent requests meet in the
model's dynamic batcher; a segment shorter than ``MIN_AUDIO_S`` is scored on that much audio around
its middle. A segment Triton rejects (bad input) keeps no emotion and the
transcript gets a warning; Triton being unreachable (:class:`InferenceUnavailable`) propagates so
the job runner can retry or record the stage as failed.
"""

from __future__ import annotations

import asyncio

import msgspec

from core.audio.signal_file import Signal
from core.inference import InferenceClient, InferenceFailed
from core.transcript import Emotion, Segment, Transcript
from pipelines.job_state import SAMPLE_RATE

MAX_CONCURRENT_REQUESTS = 8
MIN_AUDIO_S = 0.25
"""A shorter segment is scored on this much audio around its middle (the model needs a few frames)."""


async def detect_emotions(transcript: Transcript, audio: Signal, inference: InferenceClient) -> Transcript:
    """The transcript with ``Segment.emotion`` set; ``audio`` is the job's 16 kHz mono float32 audio."""
    limit = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

    async def one(segment: Segment) -> Emotion | str:
        start, end = segment_samples(segment.start, segment.end, len(audio))
        async with limit:
            try:
                return await inference.emotion(audio[start:end], segment.text)
            except InferenceFailed as exc:
                return f"emotion: segment {segment.id} has no emotion ({exc})"

    results = await asyncio.gather(*(one(segment) for segment in transcript.segments))
    segments, warnings = [], list(transcript.warnings)
    for segment, result in zip(transcript.segments, results, strict=True):
        if isinstance(result, str):
            warnings.append(result)
            segments.append(segment)
        else:
            segments.append(msgspec.structs.replace(segment, emotion=result))
    return msgspec.structs.replace(transcript, segments=segments, warnings=warnings)


def segment_samples(start_s: float, end_s: float, total: int) -> tuple[int, int]:
    """The sample range of a segment, widened around its middle to at least ``MIN_AUDIO_S`` (within the audio)."""
    middle = (start_s + end_s) / 2
    half = max(end_s - start_s, MIN_AUDIO_S) / 2
    start = max(0, int((middle - half) * SAMPLE_RATE))
    end = min(total, int(round((middle + half) * SAMPLE_RATE)))
    return start, max(end, min(total, start + int(MIN_AUDIO_S * SAMPLE_RATE)))
