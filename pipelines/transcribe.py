"""Batch transcription of a recording: speech regions → chunks at pauses → ``batch_asr``.

Without a prompt every chunk is sent at once, so the chunks of this job (and of the other running
jobs) meet in Triton's dynamic batcher and are decoded together. With ``use_prompt`` the chunks go
one after another, each with the previous chunk's text as Whisper's prompt.

``use_prompt=False`` is the default. Measured on espeak meetings (benchmarks/chunk_prompt.py, 2
shared cores): the same WER on 138 s (2.8 % both; 46 s: 1.9 % vs 0.9 %, one word), a single job 24 %
faster (7.2 s vs 9.4 s) because its chunks decode in one batch, and Whisper's sentence-level
segments kept, where a prompted chunk comes back as one 15-30 s segment (and once stopped early,
dropping three sentences, before the continuation below existed). With 2 concurrent jobs the
prompted run was faster (14.7 s vs 16.9 s): a noisy machine, and little batching gain on 2 cores.

Whisper's cross-attention places a word that follows a pause 100-250 ms late (tiny.en on espeak
speech); the VAD hears the onset within one 32 ms window, so the first word of each speech region
starts at the region's onset.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np

from core.inference import ChunkTranscript, InferenceClient
from pipelines.chunking import plan_chunks
from pipelines.job_state import SAMPLE_RATE, AsrSegment, AsrWord, SpeechRegion
from pipelines.speech_regions import SpeechRegionOptions, detect_speech

MAX_CHUNK_S = 30.0
ONSET_SNAP_S = 0.5
"""A region's first word is moved to the region's onset only if it starts this close to it."""
MAX_CONTINUATIONS = 2
MIN_UNHEARD_SPEECH_S = 1.0
MIN_UNHEARD_REGION_S = 0.25


async def transcribe_audio(
    audio: np.ndarray,
    inference: InferenceClient,
    *,
    language: str,
    use_prompt: bool = False,
    speech_regions: list[SpeechRegion] | None = None,
) -> list[AsrSegment]:
    """Whisper's segments of 16 kHz mono float32 ``audio`` with word times, in seconds from its start.

    ``speech_regions`` are found with the ``vad`` model when not given. Whisper sometimes ends a
    chunk early; speech left after a chunk's last word is sent again (at most
    :data:`MAX_CONTINUATIONS` times), as faster-whisper seeks past its last timestamp.
    """
    if speech_regions is None:
        speech_regions = await detect_speech(audio, inference)
    spans = plan_chunks(speech_regions, len(audio) / SAMPLE_RATE, MAX_CHUNK_S)
    segments: list[AsrSegment] = []
    for _ in range(1 + MAX_CONTINUATIONS):
        transcripts = await _transcribe_spans(audio, spans, inference, language=language, use_prompt=use_prompt)
        heard = [
            [_file_segment(s, start_s, end_s, t.language) for s in t.segments]
            for (start_s, end_s), t in zip(spans, transcripts)
        ]
        segments.extend(segment for span_segments in heard for segment in span_segments)
        rests = [_unheard_rest(span, span_segments, speech_regions) for span, span_segments in zip(spans, heard)]
        spans = [rest for rest in rests if rest]
        if not spans:
            break
    segments.sort(key=lambda segment: segment.start)
    return _words_from_onsets(segments, speech_regions, SpeechRegionOptions().speech_pad_s)


async def _transcribe_spans(
    audio: np.ndarray, spans: list[tuple[float, float]], inference: InferenceClient, *, language: str, use_prompt: bool
) -> list[ChunkTranscript]:
    pieces = [audio[round(start_s * SAMPLE_RATE) : round(end_s * SAMPLE_RATE)] for start_s, end_s in spans]
    if not use_prompt:
        return list(await asyncio.gather(*(inference.transcribe_chunk(p, language=language) for p in pieces)))
    transcripts: list[ChunkTranscript] = []
    for piece in pieces:
        prompt = " ".join(s.text for s in transcripts[-1].segments) if transcripts else ""
        transcripts.append(await inference.transcribe_chunk(piece, language=language, prompt=prompt))
    return transcripts


def _unheard_rest(
    span: tuple[float, float], segments: list[AsrSegment], regions: list[SpeechRegion]
) -> tuple[float, float] | None:
    """The end of ``span`` after its last word, when at least :data:`MIN_UNHEARD_SPEECH_S` of
    speech lies there (``None`` when nothing at all was heard: silence or noise, not an early stop)."""
    words = [w for s in segments for w in s.words]
    if not segments:
        return None
    heard_until_s = max(words[-1].end if words else 0.0, segments[-1].end)
    overlaps = [  # a heard word's end running a little past Whisper's last time is not unheard speech
        (max(r.start, heard_until_s), min(r.end, span[1]))
        for r in regions
        if min(r.end, span[1]) - max(r.start, heard_until_s) >= MIN_UNHEARD_REGION_S
    ]
    if sum(end - start for start, end in overlaps) < MIN_UNHEARD_SPEECH_S:
        return None
    return overlaps[0][0], span[1]


def _words_from_onsets(
    segments: list[AsrSegment], regions: list[SpeechRegion], speech_pad_s: float
) -> list[AsrSegment]:
    """The first word of each speech region starts at the region's onset (its start less padding)."""
    onsets = sorted(min(r.start + (speech_pad_s if r.start > 0 else 0.0), r.end) for r in regions)
    words = [(i, j, w) for i, s in enumerate(segments) for j, w in enumerate(s.words)]
    first_words: dict[tuple[int, int], float] = {}
    k = 0
    for onset in onsets:
        while k < len(words) and words[k][2].end <= onset:
            k += 1
        if k < len(words) and abs(words[k][2].start - onset) <= ONSET_SNAP_S:
            i, j, word = words[k]
            previous_end = words[k - 1][2].end if k else 0.0
            first_words[(i, j)] = round(min(max(onset, previous_end), word.end), 3)
    snapped = []
    for i, segment in enumerate(segments):
        new_words = [
            AsrWord(w.word, first_words.get((i, j), w.start), w.end, w.confidence) for j, w in enumerate(segment.words)
        ]
        start = new_words[0].start if new_words else segment.start
        snapped.append(replace(segment, start=start, words=new_words))
    return snapped


def _file_segment(segment, chunk_start_s: float, chunk_end_s: float, language: str) -> AsrSegment:
    """A chunk's segment with times moved to the file (and kept inside the chunk)."""

    def at(time_s: float) -> float:
        return round(min(chunk_end_s, chunk_start_s + max(0.0, time_s)), 3)

    return AsrSegment(
        start=at(segment.start),
        end=at(segment.end),
        text=segment.text,
        confidence=segment.confidence,
        words=[AsrWord(w.word, at(w.start), at(w.end), w.confidence) for w in segment.words],
        language=language,
    )
