"""Speech regions from VAD probabilities and chunk planning (pure functions, no Triton)."""

import numpy as np
import pytest

from core.inference import VAD_WINDOW_SAMPLES as WINDOW_SAMPLES
from pipelines.chunking import plan_chunks
from pipelines.job_state import AsrSegment, SpeechRegion
from pipelines.speech_regions import DIARIZATION_REGIONS, SpeechRegionOptions, SpeechSearch, regions_from_probabilities

WINDOW_S = WINDOW_SAMPLES / 16000


def _probabilities(*spans: tuple[float, float, float], duration_s: float) -> np.ndarray:
    """Per-window probabilities: 0.05 everywhere, ``value`` over each ``(start_s, end_s, value)``."""
    probabilities = np.full(int(duration_s / WINDOW_S), 0.05, dtype=np.float32)
    for start_s, end_s, value in spans:
        probabilities[int(start_s / WINDOW_S) : int(end_s / WINDOW_S)] = value
    return probabilities


def test_hysteresis_min_silence_min_speech_and_padding() -> None:
    probabilities = _probabilities(
        (1.0, 2.0, 0.9),
        (2.0, 2.5, 0.4),  # between the thresholds: still speech
        (2.5, 3.0, 0.9),
        (3.16, 4.0, 0.9),  # after a 160 ms pause (< min silence): same region
        (6.0, 6.1, 0.9),  # a 100 ms click: dropped
        (8.0, 9.0, 0.9),
        duration_s=10.0,
    )
    regions = regions_from_probabilities(probabilities, 10.0, SpeechRegionOptions(speech_pad_s=0.1))
    assert len(regions) == 2
    assert regions[0].start == pytest.approx(0.9, abs=WINDOW_S) and regions[0].end == pytest.approx(4.1, abs=WINDOW_S)
    assert regions[1].start == pytest.approx(7.9, abs=WINDOW_S) and regions[1].end == pytest.approx(9.1, abs=WINDOW_S)


def test_padding_stays_inside_the_audio_and_between_neighbours() -> None:
    probabilities = _probabilities((0.0, 1.0, 0.9), (1.35, 2.0, 0.9), duration_s=2.0)
    regions = regions_from_probabilities(probabilities, 2.0, SpeechRegionOptions(speech_pad_s=0.3))
    assert regions[0].start == 0.0 and regions[-1].end <= 2.0
    assert regions[0].end <= regions[1].start


def test_transcription_decodes_a_soft_turn_but_not_the_soft_edge_of_a_loud_one() -> None:
    probabilities = _probabilities(
        (1.0, 3.0, 0.9),
        (3.0, 4.0, 0.32),  # a loud turn's soft tail: widens it at diarization's thresholds only
        (6.0, 7.5, 0.4),  # a turn that never reaches 0.5 (the radio pair's last count)
        (9.0, 9.27, 0.4),  # a soft blip: shorter than a soft region may be, even padded
        duration_s=12.0,
    )
    search = SpeechSearch(probabilities, 12.0)
    loud, soft = search.regions(), search.regions(DIARIZATION_REGIONS)
    assert len(loud) == 1 and loud[0].end == pytest.approx(3.1, abs=WINDOW_S)
    assert [round(r.start) for r in soft] == [1, 6, 9] and soft[0].end == pytest.approx(4.1, abs=WINDOW_S)
    assert search.transcription_regions() == [loud[0], soft[1]]


def test_short_audio_fits_one_chunk_from_first_speech_to_last() -> None:
    regions = [SpeechRegion(1.0, 4.0), SpeechRegion(6.0, 9.5)]
    assert plan_chunks(regions, 12.0) == [(1.0, 9.5)]
    assert plan_chunks([], 12.0) == []


def test_long_audio_is_cut_at_the_longest_pauses_never_inside_speech() -> None:
    # 10 regions of 5 s; pauses of 1 s except a 3 s one after the 4th region.
    regions, start = [], 0.5
    for index in range(10):
        regions.append(SpeechRegion(start, start + 5.0))
        start += 5.0 + (3.0 if index == 3 else 1.0)
    chunks = plan_chunks(regions, start, max_chunk_s=30.0)
    assert all(end - begin <= 30.0 for begin, end in chunks)
    assert chunks[0] == (0.5, regions[3].end)  # the 3 s pause is the first cut
    for region in regions:  # each region lies whole inside exactly one chunk
        assert sum(begin <= region.start and region.end <= end for begin, end in chunks) == 1
    assert [b for b, _ in chunks] == sorted(b for b, _ in chunks)


def test_a_region_longer_than_a_chunk_is_split_evenly() -> None:
    chunks = plan_chunks([SpeechRegion(2.0, 72.0), SpeechRegion(75.0, 80.0)], 80.0, max_chunk_s=30.0)
    assert chunks[:3] == [
        pytest.approx((2.0, 2.0 + 70 / 3)),
        pytest.approx((2.0 + 70 / 3, 2.0 + 140 / 3)),
        pytest.approx((2.0 + 140 / 3, 72.0)),
    ]
    assert chunks[3] == (75.0, 80.0)


def test_speech_after_a_chunks_last_word_is_sent_again() -> None:
    from pipelines.job_state import AsrSegment, AsrWord
    from pipelines.transcribe import _unheard_rest

    regions = [SpeechRegion(1.0, 4.0), SpeechRegion(5.0, 8.0), SpeechRegion(9.0, 12.0)]
    heard_two = [AsrSegment(1.0, 7.9, "a b", 0.9, [AsrWord("a", 1.0, 3.9, 0.9), AsrWord("b", 5.0, 7.9, 0.9)])]
    assert _unheard_rest((1.0, 12.0), heard_two, regions) == 7.9  # Whisper stopped early
    heard_all = [AsrSegment(1.0, 11.9, "a b c", 0.9, [*heard_two[0].words, AsrWord("c", 9.0, 11.9, 0.9)])]
    assert _unheard_rest((1.0, 12.0), heard_all, regions) is None
    assert _unheard_rest((1.0, 12.0), [], regions) is None  # nothing heard: noise, not an early stop


def test_chunks_are_widened_into_edges_and_half_pauses_within_30_s() -> None:
    from pipelines.transcribe import _with_margins

    chunks = [(1.5, 10.0), (10.6, 20.0), (25.0, 54.0)]
    widened = [time_s for chunk in _with_margins(chunks, 60.0) for time_s in chunk]
    assert widened == pytest.approx([0.5, 10.3, 10.3, 21.0, 24.5, 54.5])


def _words(*timed: tuple[str, float, float]):
    from pipelines.job_state import AsrSegment, AsrWord

    words = [AsrWord(text, start, end, 0.9) for text, start, end in timed]
    return [AsrSegment(words[0].start, words[-1].end, " ".join(w.word for w in words), 0.9, words)]


def test_a_continuation_drops_the_words_it_hears_again_in_its_context() -> None:
    from pipelines.transcribe import _Decode, _new_words

    decode = _Decode(
        18.8, 26.0, "than he was.", keep_after_s=21.8, context_words=("more", "respectable", "than", "he", "was")
    )
    heard = _words(
        ("More", 19.0, 19.4),
        ("respectable", 19.4, 20.2),
        ("than", 20.3, 20.6),
        ("he", 21.0, 21.2),
        ("was.", 21.2, 21.9),
        ("He", 22.0, 22.2),
        ("might", 22.2, 22.5),
    )
    assert [w.word for s in _new_words(heard, decode) for w in s.words] == ["He", "might"]
    # the context heard again and nothing after it (noise after the last word): nothing kept
    assert _new_words(_words(*[(w.word, w.start, w.end) for w in heard[0].words[:5]]), decode) == []


def test_a_continuation_that_skips_its_context_keeps_its_words_after_the_stop() -> None:
    from pipelines.transcribe import _Decode, _new_words

    decode = _Decode(
        18.8, 26.0, "than he was.", keep_after_s=21.8, context_words=("more", "respectable", "than", "he", "was")
    )
    heard = _words(("He", 19.0, 19.5), ("might", 19.5, 20.0), ("even", 20.0, 21.0), ("himself.", 24.0, 25.0))
    words = [w for s in _new_words(heard, decode) for w in s.words]
    assert [w.word for w in words] == ["He", "might", "even", "himself."]
    assert words[0].start == pytest.approx(21.8) and words[-1].end == pytest.approx(25.0)
    assert all(a.end <= b.start for a, b in zip(words, words[1:])) and all(w.end > w.start for w in words)


def test_a_continuation_that_runs_on_from_its_prompt_then_hears_its_context_keeps_one_copy() -> None:
    """Seen with base on a two-voice meeting: the first decode stopped after "I think we"; the
    continuation wrote the rest from the prompt over the context audio, then heard the context's last
    words and the rest again. The transcript said the sentence twice."""
    from pipelines.transcribe import _Decode, _new_words

    context = ("run", "a", "small", "pilot", "with", "ten", "users", "first", "i", "think", "we")
    decode = _Decode(24.18, 29.53, "… with ten users first. I think we", keep_after_s=27.18, context_words=context)
    sentence = ["should", "move", "the", "wrench", "to", "next", "week."]
    heard = _words(
        *[(word, 24.18 + 0.3 * i, 24.18 + 0.3 * i + 0.2) for i, word in enumerate(sentence)],
        ("I", 26.44, 26.68), ("think", 26.68, 26.92), ("we", 26.92, 27.16),
        *[(word, 27.16 + 0.25 * i, 27.16 + 0.25 * i + 0.2) for i, word in enumerate(sentence)],
    )  # fmt: skip
    words = [w for s in _new_words(heard, decode) for w in s.words]
    assert [w.word for w in words] == sentence
    assert words[0].start == pytest.approx(27.16)


def test_the_last_word_of_a_region_ends_at_its_offset_when_it_ends_a_little_early() -> None:
    from pipelines.transcribe import _words_to_offsets

    regions = [SpeechRegion(1.0, 4.1), SpeechRegion(5.0, 8.1)]
    heard = _words(("a", 1.1, 2.0), ("b", 2.0, 3.7), ("c", 5.1, 6.0), ("d", 6.0, 7.0))
    ends = [w.end for s in _words_to_offsets(heard, regions, 0.1) for w in s.words]
    assert ends == pytest.approx([2.0, 4.0, 6.0, 7.0])  # "d" ends 1 s before the offset: a pause, not a slip


def test_a_long_segment_is_cut_into_its_sentences() -> None:
    """Prompted with the text before it, base returned a chunk of real speech as one 27 s segment."""
    from pipelines.transcribe import _sentences

    segment = _words(
        ("Thank", 0.5, 0.8),
        ("you,", 0.8, 1.0),
        ("Mr.", 1.1, 1.3),
        ("Dashwood.", 1.3, 2.0),
        ("Is", 3.0, 3.2),
        ("that", 3.2, 3.4),
        ("right?", 3.4, 3.9),
        ("Yes.", 5.0, 5.4),
    )[0]
    sentences = _sentences(segment)
    assert [s.text for s in sentences] == ["Thank you, Mr. Dashwood.", "Is that right?", "Yes."]
    assert [(s.start, s.end) for s in sentences] == [(0.5, 2.0), (3.0, 3.9), (5.0, 5.4)]
    assert [w for s in sentences for w in s.words] == segment.words
    assert _sentences(_words(("One", 0.0, 0.5), ("sentence.", 0.5, 1.0))[0]) == _words(
        ("One", 0.0, 0.5), ("sentence.", 0.5, 1.0)
    )


def test_sentences_keep_the_text_as_whisper_wrote_it() -> None:
    """Whisper writes "80%" and times "80" and "%" as two words: the sentences of a prompted chunk were
    its words joined by spaces ("80 %", which the scoring's normaliser no longer reads as 80 percent)."""
    from pipelines.transcribe import _sentences

    words = _words(("Up", 0.0, 0.3), ("to", 0.3, 0.5), ("80", 0.5, 0.8), ("%", 0.8, 1.0), ("today.", 1.0, 1.5),
                   ("Fine.", 2.0, 2.4))[0].words  # fmt: skip
    segment = AsrSegment(0.0, 2.4, " Up to 80% today. Fine.", 0.9, words)
    assert [s.text for s in _sentences(segment)] == ["Up to 80% today.", "Fine."]
    garbled = AsrSegment(0.0, 2.4, "Something else.", 0.9, words)  # the words not in the text: joined
    assert [s.text for s in _sentences(garbled)] == ["Up to 80 % today.", "Fine."]


def test_a_long_word_over_speech_is_speech_passed_over_and_over_a_pause_is_not() -> None:
    """A prompted chunk's word stretched 2.8 s over a line the prompt already held (all speech) makes the
    chunk decoded again without its prompt; "Kenwood" stretched 2.8 s over a pause (66 % speech) does not."""
    from core.inference import ChunkSegment, ChunkTranscript, WordTiming
    from pipelines.transcribe import _passed_over_speech

    def chunk(start: float, end: float) -> ChunkTranscript:
        word = WordTiming("new", start, end, 0.9)
        return ChunkTranscript("en", [ChunkSegment("new", start, end, 0.9, [word])])

    regions = [SpeechRegion(22.84, 25.44), SpeechRegion(25.79, 31.62), SpeechRegion(48.06, 51.65)]
    regions.append(SpeechRegion(52.6, 55.2))
    assert _passed_over_speech(chunk(1.08, 3.92), 25.0, regions)  # 26.08-28.92: all speech
    assert not _passed_over_speech(chunk(2.14, 4.96), 48.0, regions)  # 50.14-52.96: across a pause
    assert not _passed_over_speech(chunk(1.08, 2.9), 25.0, regions)  # 1.8 s: a long word, not a skip
