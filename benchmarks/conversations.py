"""Multi-speaker test conversations from espeak-ng, with ground-truth word times and speakers.

Every utterance is synthesized through libespeak-ng (ctypes) with a synth callback that receives the
audio and ``espeakEVENT_WORD`` events; an event's ``audio_position`` (ms) is where its word starts.
A word ends at the last loud 10 ms frame before the next word (or the utterance end). Utterances
are laid out one after another with short gaps, and back-channels ("yeah", "mm-hmm", "right") of
another voice are dropped between turns, so turns are short and speaker changes are quick.

The voices were chosen by CAM++ embedding similarity (``voice_similarity``, cosine of per-voice mean
embeddings): espeak's ``+f2`` and ``+f5`` variants share formant tables and sound like one voice to
every model, so the set keeps each pair below ~0.8 and holds same-gender pairs. Measured 29 Nov:
en-us/en+f3 0.56, en-us/en+m7 0.66 (male/male), en-us/en+f1 0.69, en+f3/en+m7 0.63,
en+f3/en+f1 0.64 (female/female), en+m7/en+f1 0.56. Rejected: en+m3, en-gb-scotland (0.93, 0.97
against en-us), en+f4 and en-gb-x-rp+Annie (0.89, 0.84 against en+f3).
"""

from __future__ import annotations

import ctypes
import functools
import random
import re
import threading
from dataclasses import dataclass

import numpy as np
import soxr

from benchmarks.speech import SAMPLE_RATE, speech_bounds

VOICES: tuple[str, ...] = ("en-us", "en+f3", "en+m7", "en+f1")
"""Speaker voices in order of use (a 2-voice conversation uses the first two, ...)."""

SENTENCES: tuple[str, ...] = (
    "I think we should move the launch to next week.",
    "The numbers from the last quarter look much better than expected.",
    "Can you send me the slides before the meeting tomorrow?",
    "We still have three open bugs in the payment service.",
    "Let me check with the design team and get back to you.",
    "The customer asked for a demo on Thursday afternoon.",
    "I am not sure the budget covers another contractor.",
    "Our test coverage went up to eighty percent this month.",
    "Maybe we can split the work between the two teams.",
    "The new office opens in March, if everything goes well.",
    "Please remember to update the documentation as well.",
    "I talked to the vendor and they can deliver on Monday.",
    "That sounds reasonable, but we need a backup plan.",
    "The server migration took longer than we planned.",
    "Who is going to present the results to the board?",
    "We could run a small pilot with ten users first.",
)
BACK_CHANNELS: tuple[str, ...] = ("yeah", "mm-hmm", "right", "okay", "sure")

_ESPEAK_WORD_EVENT = 1
_ESPEAK_LIST_TERMINATED = 0
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_RATE = 1


@dataclass(frozen=True)
class SpokenWord:
    text: str
    speaker: int
    start: float
    end: float


@dataclass(frozen=True)
class Turn:
    speaker: int
    start: float
    end: float


@dataclass(frozen=True)
class Conversation:
    audio: np.ndarray
    """Mono float32 at 16 kHz."""
    words: tuple[SpokenWord, ...]
    turns: tuple[Turn, ...]
    """One per utterance (a sentence or a back-channel), in time order, not overlapping."""
    voices: tuple[str, ...]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class _EspeakEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)


class _Espeak:
    """libespeak-ng in synchronous mode: audio and word events of one text at a time."""

    def __init__(self) -> None:
        self._lib = ctypes.CDLL("libespeak-ng.so.1")
        self.sample_rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak_Initialize failed")
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._chunks: list[np.ndarray] = []
        self._word_starts: list[tuple[int, int, int]] = []
        self._callback = _SYNTH_CALLBACK(self._on_synth)
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()

    def _on_synth(self, wav, samples, events) -> int:
        if samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(samples,)).copy())
        index = 0
        while events[index].type != _ESPEAK_LIST_TERMINATED:
            event = events[index]
            if event.type == _ESPEAK_WORD_EVENT:
                self._word_starts.append((event.audio_position, event.text_position, event.length))
            index += 1
        return 0

    def synthesize(self, text: str, voice: str, words_per_minute: int) -> tuple[np.ndarray, list[tuple[float, int]]]:
        """16-bit audio at the native rate and (start_s, character index) of each word event."""
        with self._lock:
            self._chunks, self._word_starts = [], []
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"unknown espeak-ng voice {voice!r}")
            self._lib.espeak_SetParameter(_ESPEAK_RATE, words_per_minute, 0)
            data = text.encode() + b"\0"
            buffer = ctypes.create_string_buffer(data)
            self._lib.espeak_Synth(buffer, len(data), 0, _POS_CHARACTER, 0, 0, None, None)
            self._lib.espeak_Synchronize()
            audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            events = [(position_ms / 1000, text_position - 1) for position_ms, text_position, _ in self._word_starts]
        return audio, events


@functools.lru_cache(maxsize=1)
def _espeak() -> _Espeak:
    return _Espeak()


@functools.lru_cache(maxsize=256)
def synthesize_words(
    text: str, voice: str, words_per_minute: int = 175
) -> tuple[np.ndarray, tuple[tuple[str, float, float], ...]]:
    """16 kHz float32 audio of ``text`` trimmed to its speech, and (word, start_s, end_s) of each word."""
    engine = _espeak()
    raw, events = engine.synthesize(text, voice, words_per_minute)
    audio = soxr.resample(raw.astype(np.float32) / 32768, engine.sample_rate, SAMPLE_RATE).astype(np.float32)
    first, last = speech_bounds(audio)
    audio = audio[first:last]
    offset_s, duration_s = first / SAMPLE_RATE, len(audio) / SAMPLE_RATE
    loud = _loud_frames(audio)
    groups = _event_groups(text, events)
    words = []
    for index, (start_s, tokens) in enumerate(groups):
        start = min(max(0.0, start_s - offset_s), duration_s)
        limit = groups[index + 1][0] - offset_s if index + 1 < len(groups) else duration_s
        frames = np.flatnonzero(loud[int(start * 100) : max(int(start * 100), int(limit * 100))])
        end = start + (frames[-1] + 1) / 100 if len(frames) else min(limit, duration_s)
        # a word's audio may start a little after its event (leading silence); begin at the first loud frame
        start = start + frames[0] / 100 if len(frames) else start
        end = min(end, duration_s)
        # espeak joins some function words to a neighbour ("from the"): share the span by characters
        shares = np.cumsum([0] + [len(token) for token in tokens]) / sum(len(token) for token in tokens)
        for token, a, b in zip(tokens, shares[:-1], shares[1:]):
            words.append((token, round(start + a * (end - start), 3), round(start + b * (end - start), 3)))
    return audio, tuple(words)


def _event_groups(text: str, events: list[tuple[float, int]]) -> list[tuple[float, list[str]]]:
    """The words of ``text`` grouped under the word event that starts them: [(start_s, [word, ...])].

    Several events inside one word count once; words without an event join the previous group.
    """
    tokens = [(m.start(), m.end(), m.group().strip(",.?!;:")) for m in re.finditer(r"\S+", text)]
    groups: list[tuple[float, list[str]]] = []
    owner: list[int] = []
    for start_s, position in events:
        token = next((i for i, (a, b, _) in enumerate(tokens) if a <= position < b), None)
        if token is not None and (not owner or token > owner[-1]):
            owner.append(token)
            groups.append((start_s, []))
    if not groups:
        return [(0.0, [word for _, _, word in tokens])]
    for index, (_, _, word) in enumerate(tokens):
        group = max(0, int(np.searchsorted(owner, index, side="right")) - 1)
        groups[group][1].append(word)
    return groups


def _loud_frames(audio: np.ndarray, threshold_db: float = -40.0) -> np.ndarray:
    """Per 10 ms frame: within ``threshold_db`` of the loudest frame."""
    frame = SAMPLE_RATE // 100
    count = len(audio) // frame
    energy = (audio[: count * frame].reshape(count, frame) ** 2).mean(axis=1) + 1e-12
    return 10 * np.log10(energy / energy.max()) > threshold_db


def make_conversation(
    voices: int, seed: int = 0, *, sentences: int | None = None, voice_names: tuple[str, ...] = VOICES
) -> Conversation:
    """A meeting of the first ``voices`` of ``voice_names``: short turns, quick changes, back-channels between turns.

    ``sentences`` defaults to 3 per voice plus 3 (about 30 s for two voices, 50 s for four).
    """
    if not 1 <= voices <= len(voice_names):
        raise ValueError(f"voices must be 1..{len(voice_names)}")
    rng = random.Random(seed)
    count = sentences if sentences is not None else 3 * voices + 3
    pieces: list[np.ndarray] = [np.zeros(int(0.5 * SAMPLE_RATE), np.float32)]
    position = len(pieces[0])
    words: list[SpokenWord] = []
    turns: list[Turn] = []

    def say(text: str, speaker: int, gap_s: float) -> None:
        nonlocal position
        silence = np.zeros(int(gap_s * SAMPLE_RATE), np.float32)
        pieces.append(silence)
        position += len(silence)
        audio, timed = synthesize_words(text, voice_names[speaker])
        base = position / SAMPLE_RATE
        words.extend(SpokenWord(w, speaker, round(base + s, 3), round(base + e, 3)) for w, s, e in timed)
        turns.append(Turn(speaker, round(base, 3), round(base + len(audio) / SAMPLE_RATE, 3)))
        pieces.append(audio)
        position += len(audio)

    speaker = 0
    for index in range(count):
        if index and voices > 1:
            # Everyone speaks early on (first round in order), then a random other voice.
            speaker = index if index < voices else rng.choice([v for v in range(voices) if v != speaker])
        say(SENTENCES[rng.randrange(len(SENTENCES))], speaker, rng.uniform(0.25, 0.6) if index else 0.0)
        if voices > 1 and rng.random() < 0.4:
            listener = rng.choice([v for v in range(voices) if v != speaker])
            say(rng.choice(BACK_CHANNELS), listener, rng.uniform(0.3, 0.5))
    pieces.append(np.zeros(int(0.5 * SAMPLE_RATE), np.float32))
    return Conversation(np.concatenate(pieces), tuple(words), tuple(turns), voice_names[:voices])


def der(reference: list[Turn] | tuple[Turn, ...], hypothesis, *, collar_s: float = 0.25) -> float:
    """Diarization error rate (``pyannote.metrics``, optimal speaker mapping, ``collar_s`` forgiven at each boundary).

    ``hypothesis`` holds anything with ``start``, ``end`` and ``speaker`` (e.g. ``SpeakerTurn``).
    """
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    def annotation(turns) -> Annotation:
        result = Annotation()
        for index, turn in enumerate(turns):
            result[Segment(turn.start, turn.end), index] = f"S{turn.speaker}"
        return result

    reference_annotation = annotation(reference)
    extent = reference_annotation.get_timeline().extent()
    metric = DiarizationErrorRate(collar=collar_s)
    return float(metric(reference_annotation, annotation(hypothesis), uem=extent))


def voice_similarity(voices: tuple[str, ...], embed) -> np.ndarray:
    """Cosine similarity of each pair of voices (``embed``: (n, samples) → (n, dim) unit vectors, e.g. CAM++).

    Each voice is the mean embedding of 1.5 s windows over four sentences.
    """
    window = int(1.5 * SAMPLE_RATE)
    centroids = []
    for voice in voices:
        audio = np.concatenate([synthesize_words(text, voice)[0] for text in SENTENCES[:4]])
        windows = np.stack([audio[i : i + window] for i in range(0, len(audio) - window, window // 2)])
        mean = embed(windows).mean(axis=0)
        centroids.append(mean / np.linalg.norm(mean))
    centroids = np.stack(centroids)
    return centroids @ centroids.T


def main() -> None:
    """``python -m benchmarks.conversations OUT.wav [--voices N] [--seed S]``: write a test meeting."""
    import argparse

    import soundfile

    parser = argparse.ArgumentParser(description="Write an espeak-ng meeting of several voices as a WAV file.")
    parser.add_argument("output")
    parser.add_argument("--voices", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    meeting = make_conversation(arguments.voices, arguments.seed)
    soundfile.write(arguments.output, meeting.audio, SAMPLE_RATE, subtype="PCM_16")
    voices = ", ".join(meeting.voices)
    print(f"{arguments.output}: {meeting.duration_s:.1f} s, {len(meeting.turns)} turns, voices {voices}")


if __name__ == "__main__":
    main()
