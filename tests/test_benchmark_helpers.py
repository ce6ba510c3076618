"""The latency matching of benchmarks/realtime.py on hand-made message lists (no server)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.live_scoring import (
    completing_final,
    first_recognised_message,
    normalize_words,
    per_voice_summary,
    percentiles,
    utterance_latencies,
    utterance_revisions,
)
from benchmarks.speech import SpokenUtterance, word_error_rate
from benchmarks.triton_metrics import parse_triton_metrics, triton_deltas
from clients.stream_client import ReceivedMessage, StreamResult
from core.protocol import SpeechEnd, SpeechStart, TranscriptFinal, TranscriptPartial

T0 = 1000.0  # audio_started_at (monotonic seconds)
HELLO = SpokenUtterance("Hello everyone, thank you for joining the meeting today.", "en-us", 0.6, 3.75)
ALICE = SpokenUtterance("Good morning, my name is Alice and I work in sales.", "en+f3", 4.95, 7.95)


def partial(text: str, start: float, end: float, at: float) -> ReceivedMessage:
    return ReceivedMessage(TranscriptPartial(text=text, start=start, end=end), T0 + at)


def final(text: str, start: float, end: float, at: float) -> ReceivedMessage:
    return ReceivedMessage(TranscriptFinal(text=text, start=start, end=end, confidence=0.9), T0 + at)


def result(*messages: ReceivedMessage) -> StreamResult:
    return StreamResult(messages=list(messages), audio_started_at=T0)


def test_normalize_words_lowercases_and_strips_punctuation() -> None:
    assert normalize_words("Hello, everyone! It's Alice's turn.") == ["hello", "everyone", "it's", "alice's", "turn"]
    assert normalize_words("  —  ") == []
    assert (
        normalize_words("Nine people signed up.")
        == normalize_words("9 people signed up")
        == ["9", "people", "signed", "up"]
    )


def test_word_error_rate_scores_numbers_and_spellings_as_one_answer() -> None:
    """A transcript that writes "80%" for "eighty percent" (Whisper base does) is not charged for it."""
    assert word_error_rate("Eighty percent of the design team agreed.", "80% of the design team agreed") == 0.0
    assert word_error_rate("The colour is grey, Mr. Smith.", "the color is gray mister smith") == 0.0
    assert word_error_rate("Eighty percent of the design team agreed.", "80% of the 19 agreed") == pytest.approx(2 / 6)


def test_first_partial_skips_messages_without_a_reference_word() -> None:
    messages = [
        partial("Uh", 0.4, 1.0, 1.05),
        partial("Oh, every", 0.4, 1.3, 1.35),  # "every" is not a word of the utterance
        partial("Hello every", 0.4, 1.6, 1.7),
        partial("Hello everyone", 0.4, 1.9, 2.0),
    ]
    first = first_recognised_message(messages, HELLO)
    assert first is messages[2]
    [latency] = utterance_latencies(result(*messages), [HELLO])
    assert latency.first_partial_s == pytest.approx(1.7 - 0.6)
    assert latency.first_partial_kind == "partial"
    assert latency.partials_before_first_correct == 2
    assert latency.first_partial_audio_end_s == 1.6


def test_first_partial_uses_arrival_order_and_may_be_a_final() -> None:
    messages = [final("Hello everyone.", 0.4, 1.2, 1.5), partial("hello", 0.4, 1.0, 1.4)]
    assert first_recognised_message(messages, HELLO) is messages[1]
    only_final = [final("Hello everyone.", 0.4, 1.2, 1.5)]
    [latency] = utterance_latencies(result(*only_final), [HELLO])
    assert latency.first_partial_kind == "final"
    assert latency.first_partial_s == pytest.approx(0.9)


def test_messages_of_another_utterance_do_not_count() -> None:
    # "the" and "and" are words of both lines: only time overlap attributes a message.
    messages = [
        final("Hello everyone, thank you for joining the meeting today.", 0.4, 3.95, 4.2),
        partial("Good morning", 4.75, 5.6, 5.7),
    ]
    assert first_recognised_message(messages, ALICE) is messages[1]
    assert completing_final(messages, ALICE) is None
    latencies = utterance_latencies(result(*messages), [HELLO, ALICE])
    assert latencies[1].final_s is None
    assert latencies[0].final_s == pytest.approx(4.2 - 3.75)


def test_final_is_where_the_last_word_first_appears() -> None:
    messages = [
        final("Good morning, my name is Alice", 4.75, 6.5, 6.9),  # split by max_utterance or a pause
        final("and I work in sales.", 6.5, 8.15, 8.4),
        final("Sales.", 7.6, 8.15, 9.0),  # a later duplicate does not count
    ]
    assert completing_final(messages, ALICE) is messages[1]
    [latency] = utterance_latencies(result(*messages), [ALICE])
    assert latency.final_s == pytest.approx(8.4 - 7.95)


def test_final_falls_back_to_the_final_covering_speech_end() -> None:
    messages = [
        final("Good morning, my name is Alice", 4.75, 6.5, 6.9),
        final("and I work in sails.", 6.5, 8.15, 8.45),  # last word misrecognised
    ]
    assert completing_final(messages, ALICE) is messages[1]


def test_partials_never_count_as_finals() -> None:
    messages = [partial("Good morning my name is Alice and I work in sales", 4.75, 7.9, 8.0)]
    assert completing_final(messages, ALICE) is None
    [latency] = utterance_latencies(result(*messages), [ALICE])
    assert latency.final_s is None and latency.first_partial_s == pytest.approx(8.0 - 4.95)


def test_vad_events_are_matched_by_timestamp() -> None:
    messages = [
        ReceivedMessage(SpeechStart(timestamp=0.608), T0 + 0.72),
        ReceivedMessage(SpeechEnd(timestamp=3.77), T0 + 4.2),
        ReceivedMessage(SpeechStart(timestamp=4.93), T0 + 5.0),
    ]
    [latency] = utterance_latencies(result(*messages), [HELLO])
    assert latency.speech_start_event_s == pytest.approx(0.12)
    assert latency.speech_end_event_s == pytest.approx(4.2 - 3.75)
    assert latency.first_partial_s is None and latency.final_s is None


def test_percentiles_count_missing_values() -> None:
    summary = percentiles([0.1, 0.2, None, 0.3, 0.4])
    assert summary["n"] == 4 and summary["missing"] == 1
    assert summary["p50"] == pytest.approx(0.25)
    assert summary["max"] == pytest.approx(0.4)
    assert percentiles([None])["p50"] is None


METRICS_BEFORE = """\
# HELP nv_inference_count Number of inferences performed
nv_inference_request_success{model="streaming_asr",version="1"} 10
nv_inference_count{model="streaming_asr",version="1"} 10
nv_inference_exec_count{model="streaming_asr",version="1"} 10
nv_inference_queue_duration_us{model="streaming_asr",version="1"} 1000
nv_inference_compute_infer_duration_us{model="streaming_asr",version="1"} 500000
nv_inference_request_success{model="vad",version="1"} 100
nv_inference_count{model="vad",version="1"} 100
nv_inference_exec_count{model="vad",version="1"} 100
nv_gpu_utilization{gpu_uuid="x"} 0
"""
METRICS_AFTER = """\
nv_inference_request_success{model="streaming_asr",version="1"} 50
nv_inference_count{model="streaming_asr",version="1"} 50
nv_inference_exec_count{model="streaming_asr",version="1"} 20
nv_inference_queue_duration_us{model="streaming_asr",version="1"} 81000
nv_inference_compute_infer_duration_us{model="streaming_asr",version="1"} 4500000
nv_inference_request_success{model="vad",version="1"} 100
nv_inference_count{model="vad",version="1"} 100
nv_inference_exec_count{model="vad",version="1"} 100
"""


def test_triton_metric_deltas() -> None:
    report = triton_deltas(parse_triton_metrics(METRICS_BEFORE), parse_triton_metrics(METRICS_AFTER))
    asr = report["streaming_asr"]
    assert asr["requests"] == 40 and asr["executions"] == 10
    assert asr["avg_batch"] == 4.0
    assert asr["queue_ms_per_request"] == 2.0
    assert asr["compute_ms_per_request"] == 100.0
    assert report["vad"]["avg_batch"] is None and report["vad"]["requests"] == 0


def test_revisions_count_words_of_the_earlier_text_not_kept_by_the_later() -> None:
    messages = [
        partial("Hello all", 0.4, 1.5, 1.6),  # "all" is revised by the next
        partial("Hello everyone, thank", 0.4, 2.0, 2.1),  # "thank" is revised ("thanks")
        partial("Hello everyone thanks for", 0.4, 2.5, 2.6),  # "for" is dropped by the final
        final("Hello everyone, thanks.", 0.4, 3.95, 4.3),
        partial("Good morning", 4.75, 6.0, 6.1),  # another utterance
        partial("Hello", 0.4, 3.0, 4.5),  # after the final: not counted
    ]
    revisions = utterance_revisions(messages, HELLO)
    assert (revisions.revised_words, revisions.final_words, revisions.stable_words_revised) == (3, 3, 0)
    assert revisions.per_final_word == 1.0


def test_stable_text_taken_back_is_counted() -> None:
    messages = [
        ReceivedMessage(TranscriptPartial(text="Hello all in", start=0.4, end=1.5, stable_text="Hello all"), T0 + 1.6),
        final("Hello everyone.", 0.4, 3.95, 4.3),
    ]
    assert utterance_revisions(messages, HELLO).stable_words_revised == 1


def test_whisperlive_segments_become_partials_and_first_time_finals() -> None:
    from benchmarks.peer_whisperlive import as_tandem_messages

    finished: set = set()
    done = {"start": "0.300", "end": "4.300", "text": " Thanks for coming.", "completed": True}
    open_segment = {"start": "5.300", "end": "7.900", "text": " No problem", "completed": False}
    first = as_tandem_messages([done, open_segment], finished)
    assert [type(m) for m in first] == [TranscriptFinal, TranscriptPartial]
    assert (first[0].text, first[0].start, first[0].end) == ("Thanks for coming.", 0.3, 4.3)
    assert [type(m) for m in as_tandem_messages([done, open_segment], finished)] == [TranscriptPartial]


def test_per_voice_summary_scores_each_voice_on_its_own_utterances() -> None:
    from benchmarks.speech import SpeechClip

    clip = SpeechClip(np.zeros(16000 * 9, dtype=np.float32), (HELLO, ALICE))
    session = result(
        partial("Hello", 0.4, 1.6, 1.5),
        final("Hello everyone, thank you for joining the meeting today.", 0.4, 3.95, 4.6),
        partial("Good morning", 4.75, 6.0, 5.9),
        final("Good morning, my name is Alex and I work in sales.", 4.75, 8.15, 8.8),
    )
    voices = per_voice_summary([session], clip)
    assert list(voices) == ["en-us 165 wpm", "en+f3 165 wpm"]
    assert voices["en-us 165 wpm"]["wer"] == 0.0
    assert voices["en+f3 165 wpm"]["wer"] == pytest.approx(1 / 11, abs=1e-4)  # "Alex" for "Alice"
    assert voices["en-us 165 wpm"]["first_partial_s"]["p50"] == pytest.approx(0.9)
    assert voices["en+f3 165 wpm"]["first_partial_s"]["p50"] == pytest.approx(0.95)
    # One final over both lines (as a peer may send) is scored by alignment, not by its times.
    merged = result(
        final(
            "Hello everyone, thank you for joining the meeting today. Good morning, my name is "
            "Alice and I work in sales. Really.",
            0.4,
            8.15,
            8.8,
        )
    )
    voices = per_voice_summary([merged], clip)
    assert voices["en-us 165 wpm"]["wer"] == 0.0 and voices["en+f3 165 wpm"]["wer"] == pytest.approx(1 / 11, abs=1e-4)
