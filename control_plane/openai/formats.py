"""A job's transcript in the shapes of OpenAI's transcription API (every ``response_format``, the stream events)."""

from __future__ import annotations

import math
import string
import zlib
from enum import StrEnum
from typing import Any

import msgspec
from litestar import Response

from core.exports import SubtitleOptions, to_srt, to_vtt
from core.transcript import Transcript


class ResponseFormat(StrEnum):
    JSON = "json"
    TEXT = "text"
    SRT = "srt"
    VTT = "vtt"
    VERBOSE_JSON = "verbose_json"
    DIARIZED_JSON = "diarized_json"


class Usage(msgspec.Struct):
    seconds: float
    type: str = "duration"


class Transcription(msgspec.Struct):
    text: str
    usage: Usage


class VerboseSegment(msgspec.Struct):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class VerboseWord(msgspec.Struct):
    word: str
    start: float
    end: float


class VerboseTranscription(msgspec.Struct, omit_defaults=True):
    task: str
    language: str
    duration: float
    text: str
    usage: Usage
    segments: list[VerboseSegment] | None = None
    words: list[VerboseWord] | None = None


class DiarizedSegment(msgspec.Struct):
    id: str
    start: float
    end: float
    text: str
    speaker: str
    type: str = "transcript.text.segment"


class DiarizedTranscription(msgspec.Struct):
    task: str
    duration: float
    text: str
    segments: list[DiarizedSegment]
    usage: Usage


def render(
    transcript: Transcript, response_format: ResponseFormat, granularities: set[str], headers: dict[str, str]
) -> Response[Any]:
    """The 200 answer of a synchronous transcription in ``response_format``."""
    usage = Usage(seconds=round(transcript.duration, 3))
    if response_format is ResponseFormat.TEXT:
        return Response(transcript.text, media_type="text/plain; charset=utf-8", headers=headers, status_code=200)
    if response_format in (ResponseFormat.SRT, ResponseFormat.VTT):
        options = SubtitleOptions(include_speakers=bool(transcript.speakers))
        if response_format is ResponseFormat.SRT:
            return Response(
                to_srt(transcript, options), media_type="application/x-subrip", headers=headers, status_code=200
            )
        return Response(
            to_vtt(transcript, options), media_type="text/vtt; charset=utf-8", headers=headers, status_code=200
        )
    body: msgspec.Struct
    if response_format is ResponseFormat.VERBOSE_JSON:
        body = VerboseTranscription(
            task="transcribe",
            language=transcript.language,
            duration=round(transcript.duration, 3),
            text=transcript.text,
            usage=usage,
            segments=_verbose_segments(transcript) if "segment" in granularities or not granularities else None,
            words=[VerboseWord(w.word, w.start, w.end) for w in transcript.words] if "word" in granularities else None,
        )
    elif response_format is ResponseFormat.DIARIZED_JSON:
        body = DiarizedTranscription(
            task="transcribe",
            duration=round(transcript.duration, 3),
            text=transcript.text,
            segments=diarized_segments(transcript),
            usage=usage,
        )
    else:
        body = Transcription(text=transcript.text, usage=usage)
    return Response(body, media_type="application/json", headers=headers, status_code=200)


def diarized_segments(transcript: Transcript) -> list[DiarizedSegment]:
    """Segments labelled by speaker: the speaker's name when known, else ``A``, ``B``... as OpenAI labels them."""
    labels = {speaker.id: speaker.name or _letters(index) for index, speaker in enumerate(transcript.speakers)}
    return [
        DiarizedSegment(
            id=f"seg_{segment.id}",
            start=segment.start,
            end=segment.end,
            text=segment.text,
            speaker=labels.get(segment.speaker or "", "A"),
        )
        for segment in transcript.segments
    ]


def stream_events(transcript: Transcript, *, with_segments: bool) -> list[dict[str, Any]]:
    """The SSE events of ``stream=true``: a delta per segment (with its ``transcript.text.segment`` when
    diarized), then ``transcript.text.done``."""
    events: list[dict[str, Any]] = []
    for index, segment in enumerate(diarized_segments(transcript)):
        events.append({"type": "transcript.text.delta", "delta": (" " if index else "") + segment.text})
        if with_segments:
            events.append(msgspec.to_builtins(segment))
    events.append({"type": "transcript.text.done", "text": transcript.text})
    return events


def _verbose_segments(transcript: Transcript) -> list[VerboseSegment]:
    return [
        VerboseSegment(
            id=segment.id,
            seek=0,
            start=segment.start,
            end=segment.end,
            text=segment.text,
            tokens=[],
            temperature=0.0,
            avg_logprob=round(math.log(max(segment.confidence, 1e-6)), 4),
            compression_ratio=_compression_ratio(segment.text),
            no_speech_prob=0.0,
        )
        for segment in transcript.segments
    ]


def _compression_ratio(text: str) -> float:
    data = text.encode()
    return round(len(data) / len(zlib.compress(data)), 3) if data else 0.0


def _letters(index: int) -> str:
    """``A``... ``Z``, then ``AA``, ``AB``..."""
    letters = string.ascii_uppercase
    return letters[index] if index < len(letters) else _letters(index // len(letters) - 1) + letters[index % 26]
