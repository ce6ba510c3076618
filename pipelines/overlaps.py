"""Overlapped speech: where two people speak at once, and who the second one is.

The diarizer gives one speaker per frame. Triton's ``speaker_overlap`` model (pyannote
segmentation-3.0) scores 10 s chunks every ``chunk_step_s`` over the speech; frames where the
averaged probability of two speakers passes ``threshold`` form overlapped stretches. Each gets the
speaker of the turn it falls in as the first voice and, as the second, the nearest other speaker in
time (the heuristic of overlap-aware resegmentation, Bullock et al. 2020).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.audio.signal_file import Signal
from core.inference import SPEAKER_OVERLAP_CHUNK_SAMPLES, SPEAKER_OVERLAP_MAX_CHUNKS, InferenceClient
from pipelines.job_state import SAMPLE_RATE, SpeakerTurn, SpeechRegion


@dataclass(frozen=True)
class OverlapOptions:
    chunk_step_s: float = 2.5
    """Seconds between the starts of two chunks (each frame is scored by up to four chunks)."""
    threshold: float = 0.5
    """A frame is overlapped where the averaged probability of two speakers passes this."""
    min_overlap_s: float = 0.1
    """Shorter overlapped stretches are dropped."""


async def overlapped_speech(
    audio: Signal,
    speech_regions: list[SpeechRegion],
    inference: InferenceClient,
    options: OverlapOptions | None = None,
) -> list[tuple[float, float]]:
    """Stretches ``(start, end)`` in seconds of 16 kHz mono ``audio`` where two people speak at once.

    Only chunks that hold speech are sent, a request of at most ``SPEAKER_OVERLAP_MAX_CHUNKS`` at a
    time (a long recording is never held as chunks all at once).
    """
    options = options or OverlapOptions()
    starts = _chunk_starts(len(audio), speech_regions, int(round(options.chunk_step_s * SAMPLE_RATE)))
    if not starts:
        return []
    totals: np.ndarray | None = None
    frame_step_s = 0.0
    for first in range(0, len(starts), SPEAKER_OVERLAP_MAX_CHUNKS):
        group = starts[first : first + SPEAKER_OVERLAP_MAX_CHUNKS]
        probabilities, frame_step_s = await inference.overlap_probabilities(np.stack([_chunk(audio, s) for s in group]))
        if totals is None:
            frames = int(np.ceil(len(audio) / SAMPLE_RATE / frame_step_s)) + probabilities.shape[1]
            totals, counts = np.zeros(frames), np.zeros(frames)
        for start, chunk_probabilities in zip(group, probabilities):
            offset = int(round(start / SAMPLE_RATE / frame_step_s))
            totals[offset : offset + len(chunk_probabilities)] += chunk_probabilities
            counts[offset : offset + len(chunk_probabilities)] += 1
    overlapped = totals / np.maximum(counts, 1) > options.threshold
    edges = np.flatnonzero(np.diff(np.r_[0, overlapped.astype(np.int8), 0]))
    duration_s = len(audio) / SAMPLE_RATE
    stretches = [
        (round(float(begin) * frame_step_s, 3), round(min(float(end) * frame_step_s, duration_s), 3))
        for begin, end in zip(edges[::2], edges[1::2])
    ]
    return [(start, end) for start, end in stretches if end - start >= options.min_overlap_s]


def second_speakers(turns: list[SpeakerTurn], stretches: list[tuple[float, float]]) -> list[SpeakerTurn]:
    """The second voice of each overlapped stretch that falls in a turn: the nearest other speaker in time."""
    overlaps = []
    for start, end in stretches:
        middle = (start + end) / 2
        first = next((turn.speaker for turn in turns if turn.start <= middle < turn.end), None)
        others = [turn for turn in turns if turn.speaker != first]
        if first is None or not others:
            continue
        nearest = min(others, key=lambda turn: max(turn.start - end, start - turn.end, 0.0))
        overlaps.append(SpeakerTurn(start, end, nearest.speaker))
    return overlaps


def _chunk_starts(samples: int, regions: list[SpeechRegion], step: int) -> list[int]:
    """Chunk starts every ``step`` samples (the last one flush with the end) whose chunk holds speech."""
    last = max(0, samples - SPEAKER_OVERLAP_CHUNK_SAMPLES)
    starts = list(range(0, last + 1, step))
    if starts[-1] < last:
        starts.append(last)
    return [
        start
        for start in starts
        if any(
            region.start * SAMPLE_RATE < start + SPEAKER_OVERLAP_CHUNK_SAMPLES and region.end * SAMPLE_RATE > start
            for region in regions
        )
    ]


def _chunk(audio: Signal, start: int) -> np.ndarray:
    """``SPEAKER_OVERLAP_CHUNK_SAMPLES`` from ``start``, zero-padded past the end of ``audio``."""
    chunk = np.zeros(SPEAKER_OVERLAP_CHUNK_SAMPLES, dtype=np.float32)
    piece = audio[start : start + SPEAKER_OVERLAP_CHUNK_SAMPLES]
    chunk[: len(piece)] = piece
    return chunk
