"""The online clustering of live speaker labels, on synthetic embeddings (no models)."""

from __future__ import annotations

import numpy as np

from control_plane.live.speaker_labels import OnlineSpeakers, Span, SpeakerLabelOptions, speaker_windows

DIM = 16
RNG = np.random.default_rng(0)
VOICES = np.eye(DIM)[:3]


def _final(voice_by_time, duration_s: float) -> tuple[list[Span], np.ndarray]:
    """Windows over ``duration_s`` and embeddings of the voice speaking at each window's middle, with noise."""
    windows, _ = speaker_windows(np.zeros(int(duration_s * 16000), np.float32), SpeakerLabelOptions())
    embeddings = np.stack([VOICES[voice_by_time((w.start + w.end) / 2)] + 0.1 * RNG.normal(size=DIM) for w in windows])
    return windows, embeddings


def _words(duration_s: float, step_s: float = 0.4) -> list[Span]:
    return [Span(t, t + step_s * 0.8) for t in np.arange(0.2, duration_s - step_s, step_s)]


def test_a_second_voice_opens_a_new_label_and_a_return_reuses_the_first() -> None:
    speakers = OnlineSpeakers()
    labels = []
    for voice in (0, 1, 0, 1):
        windows, embeddings = _final(lambda t, v=voice: v, 3.0)
        parts = speakers.label(windows, embeddings, _words(3.0), 3.0)
        assert len(parts) == 1 and (parts[0].start, parts[0].end) == (0.0, 3.0)
        labels.append(parts[0].speaker)
    assert labels == ["S0", "S1", "S0", "S1"]


def test_a_final_spanning_a_turn_change_is_split_between_words() -> None:
    speakers = OnlineSpeakers()
    windows, embeddings = _final(lambda t: 0 if t < 2.6 else 1, 5.2)
    parts = speakers.label(windows, embeddings, _words(5.2), 5.2)
    assert [p.speaker for p in parts] == ["S0", "S1"]
    assert 2.0 < parts[0].end == parts[1].start < 3.2


def test_past_labels_never_change_and_the_speaker_cap_holds() -> None:
    speakers = OnlineSpeakers(SpeakerLabelOptions(max_speakers=2))
    given = []
    for voice in (0, 1, 2, 0):
        windows, embeddings = _final(lambda t, v=voice: v, 2.0)
        given.append(speakers.label(windows, embeddings, _words(2.0), 2.0)[0].speaker)
    assert given[:2] == ["S0", "S1"] and given[2] in ("S0", "S1") and given[3] == "S0"
    assert speakers.count == 2


def test_a_short_final_is_one_tiled_window_of_its_speech() -> None:
    audio = np.zeros(8000, np.float32)
    audio[2000:6000] = 0.3 * np.sin(np.arange(4000) / 5)
    windows, samples = speaker_windows(audio, SpeakerLabelOptions())
    assert windows == [Span(0.0, 0.5)] and samples.shape == (1, 24000)
    assert np.abs(samples).min() < np.abs(samples).max()  # the speech, tiled, not zero-padded silence


def test_a_short_part_joins_the_closest_speaker_instead_of_opening_one() -> None:
    speakers = OnlineSpeakers()
    windows, embeddings = _final(lambda t: 0, 3.0)
    assert speakers.label(windows, embeddings, _words(3.0), 3.0)[0].speaker == "S0"
    windows, embeddings = _final(lambda t: 1, 0.8)  # a back-channel: no whole window of its own
    assert speakers.label(windows, embeddings, _words(0.8), 0.8)[0].speaker == "S0"
    assert speakers.count == 1
    windows, embeddings = _final(lambda t: 1, 3.0)  # the same voice, well heard, opens its speaker
    assert speakers.label(windows, embeddings, _words(3.0), 3.0)[0].speaker == "S1"
