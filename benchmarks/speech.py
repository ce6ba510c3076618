"""Real test speech made with ``espeak-ng``, with ground-truth utterance times (energy-detected).

Used by the tests and the benchmarks. Each utterance is synthesized alone, trimmed to where its
energy starts and ends, and placed after a silence, so its speech start/end are known exactly.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
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


@dataclass(frozen=True)
class SpokenUtterance:
    text: str
    voice: str
    speech_start_s: float
    speech_end_s: float


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
    text: str, voice: str = "en-us", words_per_minute: int = 165, *, amplitude: int = 100, pitch: int = 50
) -> np.ndarray:
    """``text`` spoken by espeak-ng, trimmed to its speech, as 16 kHz float32 (amplitude 0–200, pitch 0–99)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-a", str(amplitude), "-p", str(pitch), "--stdout",
         text],
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
    lines: tuple[tuple[str, str], ...] = CONVERSATION,
    *,
    lead_silence_s: float = 0.6,
    gap_s: float = 1.2,
    tail_silence_s: float = 1.0,
) -> SpeechClip:
    """The lines spoken in turn, separated by silence, with their exact speech times."""
    pieces = [np.zeros(int(lead_silence_s * SAMPLE_RATE), dtype=np.float32)]
    utterances = []
    position = len(pieces[0])
    for index, (voice, text) in enumerate(lines):
        if index:
            pieces.append(np.zeros(int(gap_s * SAMPLE_RATE), dtype=np.float32))
            position += len(pieces[-1])
        speech = synthesize(text, voice)
        pieces.append(speech)
        utterances.append(SpokenUtterance(text, voice, position / SAMPLE_RATE, (position + len(speech)) / SAMPLE_RATE))
        position += len(speech)
    pieces.append(np.zeros(int(tail_silence_s * SAMPLE_RATE), dtype=np.float32))
    return SpeechClip(np.concatenate(pieces), tuple(utterances))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER after lower-casing and removing punctuation (``jiwer``)."""
    import jiwer

    normalize = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    return jiwer.wer(reference, hypothesis, reference_transform=normalize, hypothesis_transform=normalize)
