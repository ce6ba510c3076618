"""Emotion of a speech segment: ``{label, valence, arousal, confidence}``.

No speech-emotion model ships in any package, so the CPU default (:class:`ProsodyLexiconEmotion`)
is a plain heuristic, not a trained classifier:

- **valence** (-1..1) is the VADER sentiment lexicon's compound score of the segment's *text*
  (``vadersentiment``); the voice does not enter it;
- **arousal** (0..1) comes from the *audio's prosody*: loudness (RMS level of the active frames),
  pitch (median and spread of F0 by autocorrelation) and speaking rate (syllables in the text per
  second of speech), each scaled around ordinary conversational values and combined;
- **label** is the valence/arousal quadrant: happy, calm, angry, sad, or neutral when the text has
  no sentiment; **confidence** grows with the distance from the quadrant boundaries (the mean of
  the two distances, each saturating) and is capped at 0.7, because this is an estimate.

A deployment with a real speech-emotion model (e.g. emotion2vec) on a GPU swaps it in through the
``implementation``/``model_path``/``device`` parameters of ``model_repository/emotion/config.pbtxt``:
any class with ``__init__(model_path, device)`` and ``analyze_batch(audios, texts)`` returning
:class:`EmotionEstimate` values, named ``module:Class`` or ``/mounted/folder/file.py:Class``.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
DEFAULT_IMPLEMENTATION = "triton_models.emotion:ProsodyLexiconEmotion"
MAX_HEURISTIC_CONFIDENCE = 0.7
NEUTRAL_VALENCE = 0.05
"""VADER's own convention: a compound score within ±0.05 is neutral."""

_FRAME = 640  # 40 ms
_HOP = 320
_ACTIVE_BELOW_PEAK_DB = 35.0
_SILENCE_DBFS = -60.0
# Scale of each prosodic cue: (ordinary value, one "unit" of excitement); cues are z-like scores.
_LOUDNESS_DBFS = (-24.0, 6.0)
_PITCH_SEMITONES = (0.0, 4.0)  # median F0 relative to 150 Hz
_PITCH_SPREAD_SEMITONES = (2.5, 1.5)
_SYLLABLES_PER_S = (4.0, 1.2)


@dataclass(frozen=True)
class EmotionEstimate:
    label: str
    valence: float
    arousal: float
    confidence: float


@dataclass(frozen=True)
class Prosody:
    loudness_dbfs: float
    median_pitch_hz: float | None
    pitch_spread_semitones: float | None
    syllables_per_s: float | None


class ProsodyLexiconEmotion:
    """The CPU default: prosodic arousal + VADER valence (see the module docstring)."""

    def __init__(self, model_path: str = "", device: str = "cpu") -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._vader = SentimentIntensityAnalyzer()

    def analyze_batch(self, audios: Sequence[np.ndarray], texts: Sequence[str]) -> list[EmotionEstimate]:
        return [self.analyze(audio, text) for audio, text in zip(audios, texts, strict=True)]

    def analyze(self, audio: np.ndarray, text: str) -> EmotionEstimate:
        if audio.size < _FRAME:
            raise ValueError(f"a segment needs at least {_FRAME / SAMPLE_RATE:.2f} s of audio, got {audio.size}")
        valence = float(self._vader.polarity_scores(text)["compound"])
        arousal = arousal_from(prosody(audio, text))
        return _estimate(valence, arousal)


def prosody(audio: np.ndarray, text: str) -> Prosody:
    """Loudness, pitch and speaking rate of one segment (16 kHz mono float)."""
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float64), _FRAME)[::_HOP]
    level_dbfs = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    active = (level_dbfs > level_dbfs.max() - _ACTIVE_BELOW_PEAK_DB) & (level_dbfs > _SILENCE_DBFS)
    if not active.any():
        return Prosody(_SILENCE_DBFS, None, None, None)
    loudness = 10 * math.log10(float((frames[active] ** 2).mean()) + 1e-12)
    pitches = [p for p in (_frame_pitch_hz(frame) for frame in frames[active]) if p is not None]
    median_pitch = float(np.median(pitches)) if len(pitches) >= 3 else None
    spread = float(np.std(12 * np.log2(np.asarray(pitches) / median_pitch))) if median_pitch else None
    first, last = np.flatnonzero(active)[[0, -1]]
    speech_s = ((last - first) * _HOP + _FRAME) / SAMPLE_RATE
    syllables = len(re.findall(r"[aeiouy]+", text.lower()))
    rate = syllables / speech_s if syllables else None
    return Prosody(loudness, median_pitch, spread, rate)


def arousal_from(features: Prosody) -> float:
    """0 (calm) .. 1 (excited): the logistic of the mean scaled cue (loudness counts twice)."""
    cues = [_scaled(features.loudness_dbfs, _LOUDNESS_DBFS)] * 2
    if features.median_pitch_hz is not None:
        cues.append(_scaled(12 * math.log2(features.median_pitch_hz / 150.0), _PITCH_SEMITONES))
    if features.pitch_spread_semitones is not None:
        cues.append(_scaled(features.pitch_spread_semitones, _PITCH_SPREAD_SEMITONES))
    if features.syllables_per_s is not None:
        cues.append(_scaled(features.syllables_per_s, _SYLLABLES_PER_S))
    return 1.0 / (1.0 + math.exp(-sum(cues) / len(cues)))


def load_emotion_model(implementation: str, model_path: str = "", device: str = "cpu"):
    """An instance of ``module:Class`` or ``/path/to/file.py:Class`` (a mounted model's adapter)."""
    location, _, class_name = implementation.rpartition(":")
    if not location or not class_name:
        raise ValueError(f"implementation must be 'module:Class' or 'file.py:Class', got {implementation!r}")
    if location.endswith(".py"):
        spec = importlib.util.spec_from_file_location(Path(location).stem, location)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {location}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(location)
    return getattr(module, class_name)(model_path, device)


def _scaled(value: float, scale: tuple[float, float]) -> float:
    ordinary, unit = scale
    return max(-3.0, min(3.0, (value - ordinary) / unit))


def _frame_pitch_hz(frame: np.ndarray, low_hz: float = 60.0, high_hz: float = 500.0) -> float | None:
    """F0 of a voiced frame by normalized autocorrelation; ``None`` when it is not clearly periodic."""
    frame = frame - frame.mean()
    correlation = np.correlate(frame, frame, mode="full")[len(frame) - 1 :]
    if correlation[0] <= 0:
        return None
    correlation = correlation / correlation[0]
    shortest, longest = int(SAMPLE_RATE / high_hz), int(SAMPLE_RATE / low_hz)
    lag = shortest + int(np.argmax(correlation[shortest:longest]))
    return SAMPLE_RATE / lag if correlation[lag] > 0.5 else None


def _estimate(valence: float, arousal: float) -> EmotionEstimate:
    excited = arousal >= 0.5
    if valence >= NEUTRAL_VALENCE:
        label = "happy" if excited else "calm"
    elif valence <= -NEUTRAL_VALENCE:
        label = "angry" if excited else "sad"
    else:
        label = "neutral"
    if label == "neutral":
        margin = 1.0 - abs(valence) / NEUTRAL_VALENCE
    else:
        margin = (min(1.0, abs(valence) / 0.5) + min(1.0, 2 * abs(arousal - 0.5))) / 2
    confidence = MAX_HEURISTIC_CONFIDENCE * max(0.0, min(1.0, margin))
    return EmotionEstimate(label, round(valence, 4), round(arousal, 4), round(confidence, 4))
