"""Merge of ASR words and speaker turns: no orphan words on another speaker, no zero-length words.

The case from issue 21: on the two-voice espeak conversation, Whisper put the last word of a turn
("Leeds.") zero-length in the pause after its speech; the nearest turn was the next speaker's, so
the word became its own segment on the other speaker and the emotion stage failed on it.
"""

from __future__ import annotations

from pipelines.emotion import MIN_AUDIO_S, segment_samples
from pipelines.job_state import SAMPLE_RATE, AsrSegment, AsrWord, SpeakerTurn, SpeechRegion
from pipelines.merge import MIN_WORD_S, merge_transcript


def _segment(*words: tuple[str, float, float]) -> AsrSegment:
    timed = [AsrWord(text, start, end, 0.9) for text, start, end in words]
    return AsrSegment(timed[0].start, timed[-1].end, " ".join(w.word for w in timed), 0.9, timed)


TURNS = [SpeakerTurn(0.0, 2.0, 0), SpeakerTurn(2.6, 5.0, 1)]


def test_a_zero_length_last_word_in_the_pause_stays_with_its_speaker() -> None:
    first = _segment(
        ("Take", 0.2, 0.5), ("the", 0.5, 0.7), ("train", 0.7, 1.2), ("to", 1.2, 1.5), ("Leeds.", 2.45, 2.45)
    )
    second = _segment(("Sounds", 2.7, 3.1), ("good", 3.1, 3.5), ("to", 3.5, 3.7), ("me.", 3.7, 4.2))
    transcript = merge_transcript([first, second], TURNS, language="en", duration_s=5.0).transcript
    assert [(s.speaker, s.text) for s in transcript.segments] == [
        ("SPEAKER_00", "Take the train to Leeds."),
        ("SPEAKER_01", "Sounds good to me."),
    ]
    assert all(w.end - w.start >= MIN_WORD_S - 1e-9 for w in transcript.words)


def test_a_back_channel_the_turns_hold_keeps_its_speaker() -> None:
    turns = [SpeakerTurn(0.0, 2.0, 0), SpeakerTurn(2.3, 2.8, 1), SpeakerTurn(3.1, 6.0, 0)]
    words = _segment(("I", 0.2, 0.4), ("agree.", 0.4, 1.8), ("Yeah.", 2.35, 2.75), ("So", 3.2, 3.5), ("then", 3.5, 4.0))
    transcript = merge_transcript([words], turns, language="en", duration_s=6.0).transcript
    assert [(s.speaker, s.text) for s in transcript.segments] == [
        ("SPEAKER_00", "I agree."),
        ("SPEAKER_01", "Yeah."),
        ("SPEAKER_00", "So then"),
    ]


def test_every_word_has_a_positive_duration_inside_the_speech() -> None:
    words = _segment(("one", 0.2, 0.2), ("two", 0.2, 0.2), ("three", 0.2, 0.6), ("four", 1.9, 2.4))
    transcript = merge_transcript(
        [words], TURNS, language="en", duration_s=5.0, speech_regions=[SpeechRegion(0.1, 2.0)]
    ).transcript
    assert all(w.end - w.start > 0 for w in transcript.words)
    assert [w.speaker for w in transcript.words] == ["SPEAKER_00"] * 4
    assert all(a.start <= b.start for a, b in zip(transcript.words, transcript.words[1:]))


def test_emotion_gets_enough_audio_for_a_zero_length_segment() -> None:
    start, end = segment_samples(2.45, 2.45, 5 * SAMPLE_RATE)
    assert end - start >= int(MIN_AUDIO_S * SAMPLE_RATE)
    assert start <= 2.45 * SAMPLE_RATE <= end
    start, end = segment_samples(0.0, 0.0, 1000)  # at the very start of short audio
    assert (start, end) == (0, 1000)


def test_a_second_voice_over_a_turn_is_listed_with_both_speakers() -> None:
    first = _segment(("Take", 0.2, 0.5), ("the", 0.5, 0.7), ("train", 0.7, 1.9))
    second = _segment(("Sounds", 2.7, 3.1), ("good.", 3.1, 3.5))
    overlaps = [SpeakerTurn(1.2, 1.8, 1), SpeakerTurn(3.0, 3.2, 1)]  # the second lies in speaker 1's own turn
    transcript = merge_transcript([first, second], TURNS, overlaps=overlaps, language="en", duration_s=5.0).transcript
    assert [(o.start, o.end, o.speakers) for o in transcript.overlaps] == [(1.2, 1.8, ["SPEAKER_00", "SPEAKER_01"])]
    assert [s.text for s in transcript.segments] == ["Take the train", "Sounds good."]  # words keep one speaker
    durations = {speaker.id: speaker.total_duration for speaker in transcript.speakers}
    assert durations == {"SPEAKER_00": 2.0, "SPEAKER_01": 3.0}  # 2.4 s of turn + 0.6 s over the other
