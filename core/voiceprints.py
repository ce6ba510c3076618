"""A speaker's voiceprint from an enrollment sample: the mean speaker embedding of its speech.

The sample's speech is found by energy (10 ms frames within ``SPEECH_RANGE_DB`` of the loudest one,
padded by ``SPEECH_PAD_S``); the silences between are cut out, and windows of ``WINDOW_S`` every
``STEP_S`` over what is left go to Triton's ``speaker_embedding`` model, the one diarization uses. The
voiceprint is their mean, L2-normalised, like a diarized speaker's centroid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_dilation

from core.inference import InferenceClient

SAMPLE_RATE = 16000
FRAME_S = 0.01
WINDOW_S = 1.5
"""The diarization window length (windows of the same length give comparable embeddings)."""
STEP_S = 0.5
SPEECH_RANGE_DB = 35.0
SPEECH_PAD_S = 0.05
SILENCE_RMS = 1e-3
"""Frames quieter than this (about -60 dBFS) are never speech, however quiet the sample."""
MIN_SPEECH_S = 2.0


class SampleTooShort(ValueError):
    """The sample holds less speech than a voiceprint needs; the message says how much."""


@dataclass(frozen=True)
class Voiceprint:
    embedding: np.ndarray
    """L2-normalised, float32."""
    speech_s: float


def speech_only(audio: np.ndarray) -> np.ndarray:
    """The 16 kHz ``audio`` with its silences cut out (energy-gated 10 ms frames)."""
    frame = int(SAMPLE_RATE * FRAME_S)
    count = len(audio) // frame
    if count == 0:
        return np.zeros(0, dtype=np.float32)
    frames = audio[: count * frame].reshape(count, frame).astype(np.float64)
    rms = np.sqrt((frames**2).mean(axis=1))
    loudest = rms.max()
    if loudest < SILENCE_RMS:
        return np.zeros(0, dtype=np.float32)
    loud = (rms >= loudest * 10 ** (-SPEECH_RANGE_DB / 20)) & (rms >= SILENCE_RMS)
    pad = int(round(SPEECH_PAD_S / FRAME_S))
    speech = binary_dilation(loud, iterations=pad) if pad else loud
    return frames[speech].reshape(-1).astype(np.float32)


def speech_windows(speech: np.ndarray) -> np.ndarray:
    """``(n, WINDOW_S samples)`` windows every ``STEP_S`` over ``speech`` (the last one flush with its end)."""
    window, step = int(WINDOW_S * SAMPLE_RATE), int(STEP_S * SAMPLE_RATE)
    if len(speech) < window:
        return np.zeros((0, window), dtype=np.float32)
    starts = list(range(0, len(speech) - window + 1, step))
    if starts[-1] + window < len(speech):
        starts.append(len(speech) - window)
    return np.stack([speech[start : start + window] for start in starts]).astype(np.float32)


async def voiceprint(audio: np.ndarray, inference: InferenceClient) -> Voiceprint:
    """The voiceprint of 16 kHz mono ``audio``; raises :class:`SampleTooShort` below ``MIN_SPEECH_S`` of speech."""
    speech = speech_only(audio)
    speech_s = len(speech) / SAMPLE_RATE
    if speech_s < MIN_SPEECH_S:
        raise SampleTooShort(
            f"the sample holds {speech_s:.1f} s of speech; a voiceprint needs at least {MIN_SPEECH_S:.0f} s"
        )
    embeddings = await inference.embed_speakers(speech_windows(speech))
    mean = embeddings.astype(np.float64).mean(axis=0)
    return Voiceprint((mean / max(np.linalg.norm(mean), 1e-12)).astype(np.float32), round(speech_s, 2))
