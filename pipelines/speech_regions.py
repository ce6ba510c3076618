"""Where a recording holds speech: the Triton ``vad`` model (Silero) over the whole file, then
hysteresis thresholds, a minimum silence and a small padding.

One pass of the model (:func:`search_speech`) serves both readers of a job: transcription cuts its
chunks at :data:`TRANSCRIPTION_REGIONS` (and decodes the soft turns they miss), diarization labels the
wider :data:`DIARIZATION_REGIONS`.

The padding is kept small (100 ms): every padded millisecond is silence a diarizer later
attributes to a speaker (RUNTIME.md: 400 ms of padding cost 8.3 % DER, 100 ms 2.4 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.audio.signal_file import Signal
from core.inference import VAD_CONTEXT_SAMPLES, VAD_STATE_SIZE, VAD_WINDOW_SAMPLES, InferenceClient
from pipelines.job_state import SAMPLE_RATE, SpeechRegion


@dataclass(frozen=True)
class SpeechRegionOptions:
    speech_threshold: float = 0.5
    """A window at or above this probability starts (or continues) speech."""
    silence_threshold: float = 0.35
    """Speech ends only where the probability falls below this (hysteresis)."""
    min_silence_s: float = 0.3
    """Shorter pauses stay inside a region."""
    min_speech_s: float = 0.25
    """Shorter regions are dropped (clicks, breaths)."""
    speech_pad_s: float = 0.1
    """Added on both sides of a region (never past a neighbour or the audio)."""
    request_s: float = 16.0
    """Audio sent to Triton per request (the VAD state is carried from one to the next)."""


TRANSCRIPTION_REGIONS = SpeechRegionOptions()
"""Where transcription cuts its chunks. Lower thresholds put chunk edges inside soft speech and cost
words (measured with the real-speech set), so transcription keeps Silero's usual 0.5 / 0.35."""

DIARIZATION_REGIONS = SpeechRegionOptions(speech_threshold=0.3, silence_threshold=0.3)
"""Where diarization looks for voices. Speech the VAD misses is missed speech in the DER whatever the
clustering: at 0.5 / 0.35 the VAD found 11.4 s of an off-air radio pair's 24.5 s of speech (three
speakers found, DER 60.6 %); at 0.3 / 0.3 two speakers, DER 14.6 %, and on the real set the
multi-speaker DER mean went 16.1 → 6.1 %, words on the right speaker 93.4 → 96.2 %, every single
speaker still one (espeak meetings' DER mean 1.0 → 1.1 %: their silences are clean, so wider regions
only add edges). At 0.25 a noisy single speaker split in two (README, real human speech)."""


MIN_SOFT_REGION_S = 0.5
"""A soft region shorter than this is not transcribed on its own (a breath, a click)."""


@dataclass(frozen=True)
class SpeechSearch:
    """One pass of the VAD over a recording: its speech probabilities, read at any thresholds."""

    probabilities: np.ndarray
    """One per 512-sample window."""
    duration_s: float

    def regions(self, options: SpeechRegionOptions = TRANSCRIPTION_REGIONS) -> list[SpeechRegion]:
        """The speech regions at ``options``' thresholds, in seconds, sorted and disjoint."""
        return regions_from_probabilities(self.probabilities, self.duration_s, options)

    def transcription_regions(self) -> list[SpeechRegion]:
        """Where transcription decodes: the regions at :data:`TRANSCRIPTION_REGIONS`, and each region at
        :data:`DIARIZATION_REGIONS` of at least :data:`MIN_SOFT_REGION_S` that touches none of them.

        Such a region is a turn too soft to reach 0.5 anywhere (the off-air radio pair's last turn, a
        count from five to one, went untranscribed); a region that only widens one of them is left out,
        as chunk edges inside soft speech cost words."""
        regions = self.regions(TRANSCRIPTION_REGIONS)
        soft = [
            wide
            for wide in self.regions(DIARIZATION_REGIONS)
            if wide.end - wide.start >= MIN_SOFT_REGION_S
            and not any(r.start < wide.end and wide.start < r.end for r in regions)
        ]
        return sorted(regions + soft, key=lambda region: region.start)


async def search_speech(audio: Signal, inference: InferenceClient, request_s: float = 16.0) -> SpeechSearch:
    """The VAD's pass over 16 kHz mono float32 ``audio``."""
    probabilities = await speech_probabilities(audio, inference, request_s)
    return SpeechSearch(probabilities, len(audio) / SAMPLE_RATE)


async def detect_speech(
    audio: Signal, inference: InferenceClient, options: SpeechRegionOptions = TRANSCRIPTION_REGIONS
) -> list[SpeechRegion]:
    """Speech regions of 16 kHz mono float32 ``audio`` at ``options``' thresholds, in seconds, sorted and disjoint."""
    return (await search_speech(audio, inference, options.request_s)).regions(options)


async def speech_probabilities(audio: Signal, inference: InferenceClient, request_s: float = 16.0) -> np.ndarray:
    """One speech probability per 512-sample window of ``audio`` (the last partial window zero-padded).

    Each request's audio is copied on its own (zeros before the start and past the end), never a
    padded copy of the whole signal."""
    windows = -(-len(audio) // VAD_WINDOW_SAMPLES)
    windows_per_request = max(1, int(request_s * SAMPLE_RATE) // VAD_WINDOW_SAMPLES)
    state = np.zeros(VAD_STATE_SIZE, dtype=np.float32)
    probabilities = []
    for first in range(0, windows, windows_per_request):
        start = first * VAD_WINDOW_SAMPLES - VAD_CONTEXT_SAMPLES  # the context before the first window
        end = min(windows, first + windows_per_request) * VAD_WINDOW_SAMPLES
        output = await inference.vad(_zero_padded(audio, start, end), state)
        probabilities.append(output.speech_probs)
        state = output.state
    return np.concatenate(probabilities) if probabilities else np.zeros(0, dtype=np.float32)


def _zero_padded(audio: Signal, start: int, end: int) -> np.ndarray:
    """``audio[start:end]`` as float32, with zeros where the range lies outside the audio."""
    piece = np.zeros(end - start, dtype=np.float32)
    inside_start, inside_end = max(0, start), min(len(audio), end)
    piece[inside_start - start : inside_end - start] = audio[inside_start:inside_end]
    return piece


def regions_from_probabilities(
    probabilities: np.ndarray, duration_s: float, options: SpeechRegionOptions | None = None
) -> list[SpeechRegion]:
    """Speech regions from per-window probabilities (hysteresis, minimum silence and speech, padding)."""
    options = options or SpeechRegionOptions()
    window_s = VAD_WINDOW_SAMPLES / SAMPLE_RATE
    raw: list[tuple[float, float]] = []
    start: int | None = None
    silence_from: int | None = None
    for index, probability in enumerate(probabilities):
        if probability >= options.speech_threshold:
            silence_from = None
            if start is None:
                start = index
        elif start is not None and probability < options.silence_threshold:
            if silence_from is None:
                silence_from = index
            if (index + 1 - silence_from) * window_s >= options.min_silence_s:
                raw.append((start * window_s, silence_from * window_s))
                start = silence_from = None
    if start is not None:
        raw.append((start * window_s, (silence_from if silence_from is not None else len(probabilities)) * window_s))
    kept = [(s, min(e, duration_s)) for s, e in raw if min(e, duration_s) - s >= options.min_speech_s]
    return _padded(kept, duration_s, options.speech_pad_s)


def _padded(regions: list[tuple[float, float]], duration_s: float, pad_s: float) -> list[SpeechRegion]:
    """Regions widened by ``pad_s``, splitting a shorter gap between neighbours in its middle."""
    padded = []
    for index, (start, end) in enumerate(regions):
        previous_end = regions[index - 1][1] if index else -np.inf
        next_start = regions[index + 1][0] if index + 1 < len(regions) else np.inf
        padded.append(
            SpeechRegion(
                start=round(max(0.0, start - pad_s, (previous_end + start) / 2), 3),
                end=round(min(duration_s, end + pad_s, (end + next_start) / 2), 3),
            )
        )
    return padded
