"""Batch ASR over chunks of long recordings (up to ~30 s each), answered request by request.

Wraps :class:`~triton_models.whisper_decoding.ShortWindowWhisper`: every chunk is decoded with
beam search and word timestamps in one pass, the chunks of a batch (of any jobs) together. A
chunk that cannot be decoded gets its own error; the others of its batch are still answered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from triton_models.whisper_decoding import (
    FULL_WINDOW_S,
    SAMPLE_RATE,
    DecodeRequest,
    DecoderOptions,
    ShortWindowWhisper,
    Transcription,
)

MAX_CHUNK_S = FULL_WINDOW_S
"""Whisper hears at most one 30 s window; longer chunks are refused, not cut."""
_LENGTH_TOLERANCE_SAMPLES = SAMPLE_RATE // 100
"""A caller's rounding of a 30 s chunk to samples (at most 10 ms, cut off) is not an error."""

FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)
"""faster-whisper's: a chunk that loops in beam search is sampled (on a real recording in crowd noise,
base repeated "the number you have dialed is not inferior" for 15 s)."""

MAX_PROMPT_TOKENS = 223
"""Tokens kept from the end of a chunk's prompt (the text said before it): faster-whisper's own limit
(half of Whisper's text context, less one). With 96, the live models' limit, the job prompted with the
text before each chunk was one word worse than plain faster-whisper on a 3-minute real recording (10.5 %
vs 10.2 % WER); with 223, 8.0 % (benchmarks/chunk_prompt.py --audio real)."""


class ChunkError(ValueError):
    """A chunk that cannot be transcribed (its request's error; the batch goes on)."""


@dataclass(frozen=True)
class ChunkRequest:
    audio: np.ndarray
    """16 kHz mono float32, at most :data:`MAX_CHUNK_S`."""
    language: str = "auto"
    prompt: str = ""
    """The previous chunk's text, or nothing."""


class BatchTranscriber:
    """Transcribes chunks; each result is a :class:`Transcription` or the chunk's error."""

    def __init__(
        self,
        model_path: str,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 2,
        beam_size: int = 5,
        window_margin_s: float = 2.0,
        max_prompt_tokens: int = MAX_PROMPT_TOKENS,
        nice: int = 0,
    ) -> None:
        """``window_margin_s``: silence after a batch's longest chunk in the encoded window (30 or
        more: always the full 30 s window Whisper was trained on)."""
        if nice:
            # Before the model starts its threads, which inherit the thread's niceness.
            os.nice(nice)
        self._whisper = ShortWindowWhisper(
            model_path,
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            options=DecoderOptions(
                final_beam_size=beam_size,
                window_margin_s=window_margin_s,
                fallback_temperatures=FALLBACK_TEMPERATURES,
                max_prompt_tokens=max_prompt_tokens,
            ),
        )

    def transcribe(self, chunks: Sequence[ChunkRequest]) -> list[Transcription | Exception]:
        """One result per chunk, in order: the batch decoded together, or each chunk alone when
        the batch fails (so a failure stays with the chunk that caused it)."""
        results: list[Transcription | Exception | None] = [self._problem(chunk) for chunk in chunks]
        valid = [index for index, problem in enumerate(results) if problem is None]
        requests = [self._decode_request(chunks[i]) for i in valid]
        try:
            decoded: list[Transcription | Exception] = list(self._whisper.transcribe_batch(requests))
        except Exception:  # noqa: BLE001 - retried one by one to find the chunk at fault
            decoded = [self._decode_alone(request) for request in requests]
        for index, result in zip(valid, decoded):
            results[index] = result
        return [r for r in results if r is not None]

    def _decode_alone(self, request: DecodeRequest) -> Transcription | Exception:
        try:
            return self._whisper.transcribe_batch([request])[0]
        except Exception as exc:  # noqa: BLE001 - becomes this chunk's error response
            return exc

    def _problem(self, chunk: ChunkRequest) -> ChunkError | None:
        """Why the chunk cannot be transcribed, or ``None``."""
        if chunk.audio.size == 0:
            return ChunkError("empty audio")
        if chunk.audio.size > MAX_CHUNK_S * SAMPLE_RATE + _LENGTH_TOLERANCE_SAMPLES:
            return ChunkError(f"chunk of {chunk.audio.size / SAMPLE_RATE:.1f} s is longer than {MAX_CHUNK_S:.0f} s")
        if not np.isfinite(chunk.audio).all():
            return ChunkError("audio holds NaN or infinite samples")
        if not self._whisper.is_multilingual and chunk.language not in ("", "auto", "en"):
            return ChunkError(f"this model transcribes English only, not {chunk.language!r}")
        return None

    @staticmethod
    def _decode_request(chunk: ChunkRequest) -> DecodeRequest:
        language = None if chunk.language in ("", "auto") else chunk.language
        return DecodeRequest(
            audio=chunk.audio.astype(np.float32),
            word_timestamps=True,
            language=language,
            final=True,
            prompt=chunk.prompt,
        )


def segments_json(result: Transcription) -> str:
    """The response of one chunk: ``{"language", "segments": [{text, start, end, confidence, words}]}``."""
    return json.dumps({"language": result.language, "segments": [asdict(s) for s in result.segments]})
