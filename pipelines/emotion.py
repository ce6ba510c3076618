"""Optional stage: an emotion for each transcript segment, from the ``emotion`` Triton model.

Each segment's audio slice and text go to Triton as one request; concurrent requests meet in the
model's dynamic batcher. A segment Triton rejects (too short, bad input) keeps no emotion and the
transcript gets a warning; Triton being unreachable (:class:`InferenceUnavailable`) propagates so
the job runner can retry or record the stage as failed.
"""

from __future__ import annotations

import asyncio

import msgspec
import numpy as np

from core.inference import InferenceClient, InferenceFailed
from core.transcript import Emotion, Segment, Transcript
from pipelines.job_state import SAMPLE_RATE

MAX_CONCURRENT_REQUESTS = 8


async def detect_emotions(transcript: Transcript, audio: np.ndarray, inference: InferenceClient) -> Transcript:
    """The transcript with ``Segment.emotion`` set; ``audio`` is the job's 16 kHz mono float32 audio."""
    limit = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

    async def one(segment: Segment) -> Emotion | str:
        start = max(0, int(segment.start * SAMPLE_RATE))
        end = min(len(audio), int(round(segment.end * SAMPLE_RATE)))
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
