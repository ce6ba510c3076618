"""Matching enrolled voiceprints to diarized speakers: threshold, one-to-one, energy-gated enrollment windows."""

from __future__ import annotations

import numpy as np

from core.voiceprints import SAMPLE_RATE, WINDOW_S, speech_only, speech_windows
from pipelines.speaker_matching import Voiceprint, match_speakers


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


LABELS = {0: "SPEAKER_00", 1: "SPEAKER_01", 2: "SPEAKER_02"}


def test_the_best_one_to_one_assignment_not_the_greedy_one() -> None:
    # Greedy would give Ann to speaker 0 (0.95) and leave speaker 1 (Ann 0.9, Bob 0.1) without a match.
    centroids = {0: unit(1.0, 0.33, 0.0), 1: unit(1.0, -0.45, 0.0)}
    prints = [Voiceprint("Ann", unit(1.0, 0.0, 0.0)), Voiceprint("Bob", unit(1.0, 0.9, 0.0))]
    matches = match_speakers(centroids, LABELS, prints, threshold=0.85)
    assert {m.speaker_id: m.name for m in matches} == {"SPEAKER_00": "Bob", "SPEAKER_01": "Ann"}


def test_an_unknown_voice_gets_no_name_and_no_name_goes_twice() -> None:
    centroids = {0: unit(1.0, 0.0, 0.0), 1: unit(0.9, 0.4, 0.0), 2: unit(0.0, 0.0, 1.0)}
    prints = [Voiceprint("Ann", unit(1.0, 0.1, 0.0))]
    matches = match_speakers(centroids, LABELS, prints, threshold=0.7)
    assert [(m.speaker_id, m.name) for m in matches] == [("SPEAKER_00", "Ann")]


def test_one_name_enrolled_twice_names_one_speaker() -> None:
    centroids = {0: unit(1.0, 0.0, 0.0), 1: unit(0.0, 1.0, 0.0)}
    prints = [Voiceprint("Ann", unit(1.0, 0.05, 0.0)), Voiceprint("Ann", unit(0.05, 1.0, 0.0))]
    assert len(match_speakers(centroids, LABELS, prints, threshold=0.7)) == 1


def test_voiceprints_of_another_model_size_never_match() -> None:
    centroids = {0: unit(1.0, 0.0, 0.0)}
    assert match_speakers(centroids, LABELS, [Voiceprint("Ann", unit(1.0, 0.0))], threshold=0.0) == []


def test_enrollment_speech_is_gated_by_energy() -> None:
    rng = np.random.default_rng(0)
    second = SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(2 * second) / SAMPLE_RATE).astype(np.float32)
    audio = np.concatenate([np.zeros(second), tone, 1e-4 * rng.standard_normal(3 * second), tone]).astype(np.float32)
    speech = speech_only(audio)
    assert 4.0 <= len(speech) / SAMPLE_RATE <= 4.3  # the two tones and their 50 ms padding, not the hiss
    windows = speech_windows(speech)
    assert windows.shape[1] == int(WINDOW_S * SAMPLE_RATE) and len(windows) == 7
    assert len(speech_only(np.zeros(5 * second, np.float32))) == 0
