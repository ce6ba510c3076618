"""Transcript exports: plain text, SRT and WebVTT subtitles (JSON is the job body itself).

Subtitle cues follow the segments; a segment too long for one cue of ``max_lines`` lines of
``max_line_length`` characters is split into several cues, timed by its words where it has them.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from enum import StrEnum

from core.transcript import Segment, Transcript


class ExportFormat(StrEnum):
    TXT = "txt"
    JSON = "json"
    SRT = "srt"
    VTT = "vtt"


@dataclass(frozen=True)
class SubtitleOptions:
    include_speakers: bool = True
    max_line_length: int = 42
    max_lines: int = 2


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    speaker: str | None
    lines: list[str]


def speaker_names(transcript: Transcript) -> dict[str, str]:
    """Each speaker id's display name: its name when known, else the id (``SPEAKER_00``)."""
    return {speaker.id: speaker.name or speaker.id for speaker in transcript.speakers}


def to_text(transcript: Transcript, include_speakers: bool = True) -> str:
    """One paragraph per speaker turn (``Name: text``), or per segment without speakers."""
    names = speaker_names(transcript)
    paragraphs: list[tuple[str | None, list[str]]] = []
    for segment in transcript.segments:
        speaker = names.get(segment.speaker or "") if include_speakers else None
        if paragraphs and speaker is not None and paragraphs[-1][0] == speaker:
            paragraphs[-1][1].append(segment.text)
        else:
            paragraphs.append((speaker, [segment.text]))
    lines = [f"{speaker}: " * (speaker is not None) + " ".join(texts) for speaker, texts in paragraphs]
    return "\n\n".join(lines) + "\n"


def cues(transcript: Transcript, options: SubtitleOptions) -> list[Cue]:
    names = speaker_names(transcript)
    result: list[Cue] = []
    for segment in transcript.segments:
        speaker = names.get(segment.speaker or "") if options.include_speakers else None
        result.extend(_segment_cues(segment, speaker, options))
    return result


def to_srt(transcript: Transcript, options: SubtitleOptions) -> str:
    blocks = []
    for index, cue in enumerate(cues(transcript, options), start=1):
        lines = list(cue.lines)
        if cue.speaker:
            lines[0] = f"{cue.speaker}: {lines[0]}"
        timing = f"{_timestamp(cue.start, ',')} --> {_timestamp(cue.end, ',')}"
        blocks.append(f"{index}\n{timing}\n" + "\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def to_vtt(transcript: Transcript, options: SubtitleOptions) -> str:
    blocks = ["WEBVTT"]
    for cue in cues(transcript, options):
        lines = list(cue.lines)
        if cue.speaker:
            lines[0] = f"<v {cue.speaker}>{lines[0]}"
        blocks.append(f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}\n" + "\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _segment_cues(segment: Segment, speaker: str | None, options: SubtitleOptions) -> list[Cue]:
    prefix = len(speaker) + 2 if speaker else 0
    lines = _wrap(segment.text, options.max_line_length, prefix)
    if not lines:
        return []
    groups = [lines[i : i + options.max_lines] for i in range(0, len(lines), options.max_lines)]
    times = _group_times(segment, groups)
    return [Cue(start, end, speaker, group) for group, (start, end) in zip(groups, times)]


def _wrap(text: str, width: int, first_line_prefix: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters (the first leaves room for the speaker)."""
    words = text.split()
    lines: list[str] = []
    current = ""
    for word in words:
        limit = width - (first_line_prefix if not lines else 0)
        candidate = f"{current} {word}" if current else word
        if current and len(candidate) > limit:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return [piece for line in lines for piece in (textwrap.wrap(line, width) if len(line) > width else [line])]


def _group_times(segment: Segment, groups: list[list[str]]) -> list[tuple[float, float]]:
    """Start and end of each group of lines: from the segment's words, else by share of characters."""
    counts = [sum(len(line.split()) for line in group) for group in groups]
    times = []
    if len(segment.words) == sum(counts):
        index = 0
        for count in counts:
            words = segment.words[index : index + count]
            times.append((words[0].start, words[-1].end))
            index += count
        return times
    total_chars = sum(len(" ".join(group)) for group in groups) or 1
    position = segment.start
    for group in groups:
        length = (segment.end - segment.start) * len(" ".join(group)) / total_chars
        times.append((position, position + length))
        position += length
    return times


def _timestamp(seconds: float, decimal_mark: str) -> str:
    milliseconds = max(0, round(seconds * 1000))
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    secs, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_mark}{milliseconds:03d}"
