"""Real test speech made with ``espeak-ng``, with ground-truth utterance times (energy-detected).

Used by the tests and the benchmarks. Each utterance is synthesized alone, trimmed to where its
energy starts and ends, and placed after a silence, so its speech start/end are known exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16000

# Sentences tiny.en transcribes well from these voices (checked when the suite was written).
CONVERSATION: tuple[tuple[str, str], ...] = (
    ("en-us", "Hello everyone, thank you for joining the meeting today."),
    ("en+f3", "Good morning, my name is Alice and I work in sales."),
    ("en-us", "We need to finish the report before Friday afternoon."),
    ("en+f3", "The weather is nice and the sun is shining."),
)

# A longer two-voice meeting (~46 s with the default gaps) for the batch pipeline.
MEETING: tuple[tuple[str, str], ...] = CONVERSATION + (
    ("en-us", "Can you send me the numbers from last quarter?"),
    ("en+f3", "Yes, I will email them to you after lunch."),
    ("en-us", "Our team has grown to twelve people this year."),
    ("en+f3", "That is great news for the whole company."),
    ("en-us", "Let us schedule another meeting for next week."),
    ("en+f3", "Tuesday morning works well for me."),
    ("en-us", "Please bring the budget plan and the sales figures."),
    ("en+f3", "I will prepare a short presentation about the new product."),
)

# Held out from every test (voices and sentences): what a new user's audio is to the live path.
HELD_OUT_CONVERSATION: tuple[tuple[str, str], ...] = (
    ("en-gb", "Thanks for coming in early, I know the traffic was terrible this morning."),
    ("en-us+f4", "No problem at all, I wanted to hear about the new hiring plan anyway."),
    ("en-gb", "Right, so we are opening two positions in the support team next month."),
    ("en-us+f4", "That makes sense, customers have been waiting far too long for answers."),
)


# Six espeak voices no test uses (male and female variants, 140 and 190 words per minute), two lines
# each with openings unlike the tests' ("So", "Honestly", "Quick question", ...): the live path on
# voices and sentences it was never tuned on (`benchmarks/realtime.py --audio unseen`, per-voice WER).
UNSEEN_VOICES: tuple[tuple[str, str, int], ...] = (
    ("en-gb-x-rp+m3", "So the plan is to move the whole archive to the new storage by June.", 140),
    ("en-us+f2", "Honestly, I think the old system was easier for the support staff.", 190),
    ("en-gb-scotland+m4", "Quick question, who is looking after the invoices while Maria is away?", 190),
    ("en-us-nyc+f5", "Apparently the printer on the third floor has been broken since Monday.", 140),
    ("en-029+m2", "If nobody objects, we can ship the update on Thursday evening.", 165),
    ("en-gb+f4", "Actually, the client asked for a shorter report with more pictures.", 165),
    ("en-gb-x-rp+m3", "Could you check whether the backup finished last night?", 140),
    ("en-us+f2", "Sure, I will look at the logs right after this call.", 190),
    ("en-gb-scotland+m4", "Nine people signed up for the training so far.", 190),
    ("en-us-nyc+f5", "Maybe we should order pizza for the team on Friday.", 140),
    ("en-029+m2", "Last year the conference was in Lisbon, and it was wonderful.", 165),
    ("en-gb+f4", "Please remember to lock the office when you leave tonight.", 165),
)

Line = tuple[str, str] | tuple[str, str, int]
"""``(voice, text)`` or ``(voice, text, words_per_minute)`` of one utterance (default 165 wpm)."""

DEFAULT_WORDS_PER_MINUTE = 165


@dataclass(frozen=True)
class SpokenUtterance:
    text: str
    voice: str
    speech_start_s: float
    speech_end_s: float
    words_per_minute: int = DEFAULT_WORDS_PER_MINUTE

    @property
    def speaker(self) -> str:
        """The voice and its speaking rate (what per-voice figures are grouped by)."""
        return f"{self.voice} {self.words_per_minute} wpm"


@dataclass(frozen=True)
class SpeechClip:
    audio: np.ndarray
    """Mono float32 at :data:`SAMPLE_RATE`."""
    utterances: tuple[SpokenUtterance, ...]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def text(self) -> str:
        return " ".join(u.text for u in self.utterances)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


@functools.lru_cache(maxsize=64)
def synthesize(
    text: str,
    voice: str = "en-us",
    words_per_minute: int = DEFAULT_WORDS_PER_MINUTE,
    *,
    amplitude: int = 100,
    pitch: int = 50,
) -> np.ndarray:
    """``text`` spoken by espeak-ng, trimmed to its speech, as 16 kHz float32 (amplitude 0–200, pitch 0–99)."""
    wav = subprocess.run(
        [
            "espeak-ng",
            "-v",
            voice,
            "-s",
            str(words_per_minute),
            "-a",
            str(amplitude),
            "-p",
            str(pitch),
            "--stdout",
            text,
        ],
        check=True,
        capture_output=True,
    ).stdout
    audio, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    audio = soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)
    start, end = speech_bounds(audio)
    return audio[start:end]


def speech_bounds(audio: np.ndarray, frame_samples: int = 160, threshold_db: float = -40.0) -> tuple[int, int]:
    """First and last sample of frames whose energy is within ``threshold_db`` of the loudest frame."""
    frames = len(audio) // frame_samples
    energy = (audio[: frames * frame_samples].reshape(frames, frame_samples) ** 2).mean(axis=1) + 1e-12
    level_db = 10 * np.log10(energy / energy.max())
    loud = np.flatnonzero(level_db > threshold_db)
    return int(loud[0] * frame_samples), int((loud[-1] + 1) * frame_samples)


def conversation(
    lines: tuple[Line, ...] = CONVERSATION,
    *,
    lead_silence_s: float = 0.6,
    gap_s: float = 1.2,
    tail_silence_s: float = 1.0,
) -> SpeechClip:
    """The lines spoken in turn, separated by silence, with their exact speech times."""
    pieces = [np.zeros(int(lead_silence_s * SAMPLE_RATE), dtype=np.float32)]
    utterances = []
    position = len(pieces[0])
    for index, (voice, text, *rate) in enumerate(lines):
        words_per_minute = rate[0] if rate else DEFAULT_WORDS_PER_MINUTE
        if index:
            pieces.append(np.zeros(int(gap_s * SAMPLE_RATE), dtype=np.float32))
            position += len(pieces[-1])
        speech = synthesize(text, voice, words_per_minute)
        pieces.append(speech)
        utterances.append(
            SpokenUtterance(
                text, voice, position / SAMPLE_RATE, (position + len(speech)) / SAMPLE_RATE, words_per_minute
            )
        )
        position += len(speech)
    pieces.append(np.zeros(int(tail_silence_s * SAMPLE_RATE), dtype=np.float32))
    return SpeechClip(np.concatenate(pieces), tuple(utterances))


AUDIO_SETS: dict[str, tuple[Line, ...]] = {
    "tests": CONVERSATION,
    "held-out": HELD_OUT_CONVERSATION,
    "unseen": UNSEEN_VOICES,
}
"""The benchmarks' conversations: ``tests`` (the tests' voices), ``held-out`` (two voices no test
uses), ``unseen`` (six voices, two speaking rates)."""


def benchmark_clip(repeat: int, audio: str = "tests") -> SpeechClip:
    """A conversation of :data:`AUDIO_SETS` repeated ``repeat`` times, utterance times shifted accordingly."""
    clip = conversation(AUDIO_SETS[audio])
    samples = np.concatenate([clip.audio] * repeat)
    utterances = tuple(
        dataclasses.replace(
            u, speech_start_s=u.speech_start_s + k * clip.duration_s, speech_end_s=u.speech_end_s + k * clip.duration_s
        )
        for k in range(repeat)
        for u in clip.utterances
    )
    return SpeechClip(samples, utterances)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER after Whisper's English text normaliser (``whisper-normalizer``: lower case, no punctuation
    or fillers, spelled numbers and "percent" as digits, British spellings as American), so that
    "eighty percent" and "80%" are one answer (``jiwer``)."""
    import jiwer

    normalize = _english_normalizer()
    return jiwer.wer(normalize(reference), normalize(hypothesis))


@functools.cache
def _english_normalizer() -> Callable[[str], str]:
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()
