"""How a live transcript is scored: the one place both Tandem and its peer are measured by.

Definitions (ANCHORS.md), per spoken utterance of a clip, on the client's wall clock:

- first partial = arrival of the first ``transcript.partial``/``transcript.final`` whose text holds a
  correctly recognised word of the utterance (lower-cased, punctuation stripped) − its speech start;
- final = arrival of the ``transcript.final`` in which the utterance's last reference word first
  appears − its speech end (falling back to the final covering the speech end when that word is
  misrecognised; missing when there is none);
- revisions per final word = for consecutive partials of an utterance (and the final after them),
  the words of the earlier that are not a prefix of the later, summed, over the final's words;
- WER of a session = its finals joined against the clip's text (``jiwer``); per voice = the finals
  over that voice's utterances against their text.

Messages are attributed to an utterance by time: a message counts only when its ``[start, end]``
(session audio seconds) overlaps the utterance's speech, so repeated sentences never match each other.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.speech import SpeechClip, SpokenUtterance, word_error_rate
from clients.stream_client import ReceivedMessage, StreamResult
from core.protocol import SpeechEnd, SpeechStart, TranscriptFinal, TranscriptPartial

_PUNCTUATION = re.compile(r"[^\w\s']|(?<!\w)'|'(?!\w)")


def normalize_words(text: str) -> list[str]:
    """Lower-case words with punctuation stripped and numbers as digits (``"Hello, everyone!"`` →
    ``["hello", "everyone"]``, ``"Nine people"`` and ``"9 people"`` → ``["9", "people"]``)."""
    return _PUNCTUATION.sub(" ", _number_normalizer()(text.lower())).split()


@functools.cache
def _number_normalizer() -> Callable[[str], str]:
    """Whisper's English number normaliser (spelled numbers as digits, "percent" as "%")."""
    from whisper_normalizer.english import EnglishNumberNormalizer

    return EnglishNumberNormalizer()


def _overlaps(message: TranscriptPartial | TranscriptFinal, utterance: SpokenUtterance) -> bool:
    return message.start < utterance.speech_end_s and message.end > utterance.speech_start_s


def _transcripts(messages: Iterable[ReceivedMessage]) -> list[ReceivedMessage]:
    """Partials and finals in arrival order."""
    chosen = [m for m in messages if isinstance(m.message, (TranscriptPartial, TranscriptFinal))]
    return sorted(chosen, key=lambda m: m.received_at)


def first_recognised_message(messages: Sequence[ReceivedMessage], utterance: SpokenUtterance) -> ReceivedMessage | None:
    """The first partial or final over the utterance's speech holding one of its reference words."""
    reference = set(normalize_words(utterance.text))
    for received in _transcripts(messages):
        if _overlaps(received.message, utterance) and reference & set(normalize_words(received.message.text)):
            return received
    return None


def completing_final(messages: Sequence[ReceivedMessage], utterance: SpokenUtterance) -> ReceivedMessage | None:
    """The final in which the utterance's last reference word first appears.

    Falls back to the first final covering the speech end when that word never appears (a
    misrecognised last word); ``None`` when no final covers the utterance at all.
    """
    finals = [m for m in _transcripts(messages) if isinstance(m.message, TranscriptFinal)]
    finals = [m for m in finals if _overlaps(m.message, utterance)]
    last_word = normalize_words(utterance.text)[-1]
    for received in finals:
        if last_word in normalize_words(received.message.text):
            return received
    for received in finals:
        if received.message.start <= utterance.speech_end_s <= received.message.end:
            return received
    return None


def _common_prefix(earlier: list[str], later: list[str]) -> int:
    count = 0
    for a, b in zip(earlier, later):
        if a != b:
            break
        count += 1
    return count


@dataclass(frozen=True)
class Revisions:
    """What a reader saw flicker over one or more utterances (ANCHORS.md's "revisions per final word")."""

    revised_words: int = 0
    """For consecutive partials of an utterance (and the final after them): the words of the earlier
    that are not a prefix of the later, summed."""
    final_words: int = 0
    stable_words_revised: int = 0
    """Words of a partial's ``stable_text`` that a later partial or the final did not start with (must be 0)."""

    def __add__(self, other: Revisions) -> Revisions:
        return Revisions(
            self.revised_words + other.revised_words,
            self.final_words + other.final_words,
            self.stable_words_revised + other.stable_words_revised,
        )

    @property
    def per_final_word(self) -> float | None:
        return round(self.revised_words / self.final_words, 3) if self.final_words else None


def utterance_revisions(messages: Sequence[ReceivedMessage], utterance: SpokenUtterance) -> Revisions:
    """Revisions of one utterance: its partials in arrival order, then the first final over it
    (words normalised as :func:`normalize_words`)."""
    own = [m.message for m in _transcripts(messages) if _overlaps(m.message, utterance)]
    final_index = next((i for i, m in enumerate(own) if isinstance(m, TranscriptFinal)), None)
    sequence = own if final_index is None else own[: final_index + 1]
    sequence = [m for m in sequence if isinstance(m, TranscriptPartial)] + (
        [] if final_index is None else [own[final_index]]
    )
    revised = 0
    for earlier, later in zip(sequence, sequence[1:]):
        words = normalize_words(earlier.text)
        revised += len(words) - _common_prefix(words, normalize_words(later.text))
    stable_revised = 0
    for index, message in enumerate(sequence):
        stable = getattr(message, "stable_text", None)
        if not stable:
            continue
        stable_words = stable.split()
        for later in sequence[index + 1 :]:
            stable_revised += len(stable_words) - _common_prefix(stable_words, later.text.split())
    final_words = 0 if final_index is None else len(normalize_words(own[final_index].text))
    return Revisions(revised, final_words, stable_revised)


def session_revisions(result: StreamResult, utterances: Sequence[SpokenUtterance]) -> Revisions:
    return sum((utterance_revisions(result.messages, u) for u in utterances), Revisions())


@dataclass(frozen=True)
class UtteranceLatency:
    utterance: int
    """Index of the utterance in the streamed clip."""
    first_partial_s: float | None
    final_s: float | None
    speech_start_event_s: float | None
    """Arrival of ``vad.speech_start`` − speech start (VAD detection, as seen by the client)."""
    speech_end_event_s: float | None
    """Arrival of ``vad.speech_end`` − speech end (includes the silence window)."""
    first_partial_audio_end_s: float | None
    """``end`` (session audio s) of the message that gave the first partial latency."""
    first_partial_kind: str | None
    """``partial`` or ``final``."""
    partials_before_first_correct: int = 0


def _first_event(messages: Sequence[ReceivedMessage], kind: type, near_s: float, tolerance_s: float):
    candidates = [
        m for m in messages if isinstance(m.message, kind) and abs(m.message.timestamp - near_s) <= tolerance_s
    ]
    return min(candidates, key=lambda m: m.received_at) if candidates else None


def utterance_latencies(result: StreamResult, utterances: Sequence[SpokenUtterance]) -> list[UtteranceLatency]:
    """Per-utterance latencies of one session (see the module docstring for the definitions)."""
    started = result.audio_started_at
    latencies = []
    for index, utterance in enumerate(utterances):
        speech_start = started + utterance.speech_start_s
        speech_end = started + utterance.speech_end_s
        first = first_recognised_message(result.messages, utterance)
        final = completing_final(result.messages, utterance)
        start_event = _first_event(result.messages, SpeechStart, utterance.speech_start_s, 0.5)
        end_event = _first_event(result.messages, SpeechEnd, utterance.speech_end_s, 0.6)
        before = 0
        if first is not None:
            before = sum(
                1
                for m in _transcripts(result.messages)
                if isinstance(m.message, TranscriptPartial)
                and _overlaps(m.message, utterance)
                and m.received_at < first.received_at
            )
        latencies.append(
            UtteranceLatency(
                utterance=index,
                first_partial_s=None if first is None else first.received_at - speech_start,
                final_s=None if final is None else final.received_at - speech_end,
                speech_start_event_s=None if start_event is None else start_event.received_at - speech_start,
                speech_end_event_s=None if end_event is None else end_event.received_at - speech_end,
                first_partial_audio_end_s=None if first is None else first.message.end,
                first_partial_kind=None
                if first is None
                else ("final" if isinstance(first.message, TranscriptFinal) else "partial"),
                partials_before_first_correct=before,
            )
        )
    return latencies


def percentiles(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """p50/p95/mean/max of the present values, and how many were missing."""
    values = list(values)
    present = np.array([v for v in values if v is not None], dtype=float)
    summary: dict[str, float | int | None] = {"n": int(len(present)), "missing": len(values) - len(present)}
    if len(present):
        summary.update(
            p50=round(float(np.percentile(present, 50)), 3),
            p95=round(float(np.percentile(present, 95)), 3),
            mean=round(float(present.mean()), 3),
            max=round(float(present.max()), 3),
        )
    else:
        summary.update(p50=None, p95=None, mean=None, max=None)
    return summary


def quality_summary(results: Sequence[StreamResult], clip: SpeechClip) -> dict:
    """First partial, final, WER and revisions of one level: how Tandem and its peer are both scored."""
    latencies = [lat for result in results for lat in utterance_latencies(result, clip.utterances)]
    wers = [word_error_rate(clip.text, " ".join(f.text for f in r.of_type(TranscriptFinal))) for r in results]
    revisions = sum((session_revisions(result, clip.utterances) for result in results), Revisions())
    return {
        "utterances": len(latencies),
        "first_partial_s": percentiles(lat.first_partial_s for lat in latencies),
        "final_s": percentiles(lat.final_s for lat in latencies),
        "wer_mean": round(float(np.mean(wers)), 4),
        "wer_max": round(float(np.max(wers)), 4),
        "revisions_per_final_word": revisions.per_final_word,
        "stable_words_revised": revisions.stable_words_revised,
        "per_voice": per_voice_summary(results, clip),
    }


def per_voice_summary(results: Sequence[StreamResult], clip: SpeechClip) -> dict[str, dict]:
    """WER and first-partial latency of each voice (voice and speaking rate) of the clip.

    Each session's joined finals are aligned with the clip's text (``jiwer``); a substituted or
    deleted reference word is an error of its utterance's voice, an inserted word one of the voice
    of the reference word before it. No message times are needed, so a peer whose segments span
    several utterances is scored the same way.
    """
    import jiwer

    speakers = [u.speaker for u in clip.utterances for _ in normalize_words(u.text)]
    reference = " ".join(" ".join(normalize_words(u.text)) for u in clip.utterances)
    errors = {speaker: 0 for speaker in dict.fromkeys(speakers)}
    words = {speaker: speakers.count(speaker) * len(results) for speaker in errors}
    first_partials: dict[str, list[float | None]] = {speaker: [] for speaker in errors}
    for result in results:
        hypothesis = " ".join(" ".join(normalize_words(f.text)) for f in result.of_type(TranscriptFinal))
        for chunk in jiwer.process_words(reference, hypothesis or "<nothing>").alignments[0]:
            if chunk.type in ("substitute", "delete"):
                for index in range(chunk.ref_start_idx, chunk.ref_end_idx):
                    errors[speakers[index]] += 1
            elif chunk.type == "insert":
                errors[speakers[max(chunk.ref_start_idx - 1, 0)]] += chunk.hyp_end_idx - chunk.hyp_start_idx
        for utterance, latency in zip(clip.utterances, utterance_latencies(result, clip.utterances)):
            first_partials[utterance.speaker].append(latency.first_partial_s)
    return {
        speaker: {
            "reference_words": words[speaker],
            "wer": round(errors[speaker] / words[speaker], 4),
            "first_partial_s": percentiles(first_partials[speaker]),
        }
        for speaker in errors
    }
