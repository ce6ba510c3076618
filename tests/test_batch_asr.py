"""Batch ASR through the real Triton: VAD regions, chunks at pauses, ``batch_asr`` with word times.

WER threshold: tiny.en scores 2-4 % on this 46 s two-voice meeting (one or two words: "numbers"
heard as "humbers", "twelve" written "12"); 10 % leaves room for beam-search ties across runs while
still failing on a lost chunk (one of three chunks ≈ 30 % of the words) or a misplaced prompt.
"""

from __future__ import annotations

import asyncio
import statistics
import tracemalloc

import httpx
import numpy as np
import pytest

from benchmarks.speech import CONVERSATION, MEETING, SAMPLE_RATE, conversation, espeak_available, word_error_rate
from core.inference import InferenceClient, InferenceFailed
from pipelines.chunking import plan_chunks
from pipelines.speech_regions import detect_speech, speech_probabilities
from pipelines.transcribe import transcribe_audio

MAX_WER = 0.10


@pytest.fixture(scope="module")
def meeting():
    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return conversation(MEETING)


@pytest.fixture
async def inference(triton):
    client = InferenceClient(triton.endpoints.grpc_url, timeout_s=300)
    yield client
    await client.close()


async def test_speech_regions_match_the_utterances(meeting, inference) -> None:
    regions = await detect_speech(meeting.audio, inference)
    assert len(regions) == len(meeting.utterances)
    for region, utterance in zip(regions, meeting.utterances):
        assert region.start == pytest.approx(utterance.speech_start_s - 0.1, abs=0.1)
        assert region.end == pytest.approx(utterance.speech_end_s + 0.1, abs=0.15)
    assert len(plan_chunks(regions, meeting.duration_s)) >= 2


async def test_the_vad_pass_copies_one_request_of_audio_at_a_time(meeting, inference) -> None:
    audio = np.concatenate([meeting.audio] * 8)  # about six minutes: two dozen requests of 16 s
    tracemalloc.start()
    try:
        probabilities = await speech_probabilities(audio, inference)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(probabilities) == -(-len(audio) // 512)
    assert peak < 0.5 * audio.nbytes, (peak, audio.nbytes)  # a padded copy of the whole signal: above 1x
    first_request = await speech_probabilities(audio[: 16 * SAMPLE_RATE], inference)
    np.testing.assert_array_equal(probabilities[: len(first_request)], first_request)


@pytest.mark.parametrize("prompt_mode", ["previous", "none", "waves"])
async def test_meeting_transcript_with_word_times(meeting, inference, prompt_mode: str) -> None:
    segments = await transcribe_audio(meeting.audio, inference, language="en", prompt_mode=prompt_mode)
    text = " ".join(s.text for s in segments)
    assert word_error_rate(meeting.text, text) <= MAX_WER, text
    words = [w for s in segments for w in s.words]
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= meeting.duration_s for w in words)
    assert all(s.start <= s.end and 0 < s.confidence <= 1 for s in segments)
    # each utterance's speech start against the word that starts nearest to it
    errors_s = [min(abs(w.start - u.speech_start_s) for w in words) for u in meeting.utterances]
    assert statistics.median(errors_s) <= 0.150, errors_s


async def test_a_line_said_again_at_a_chunk_start_is_not_lost_to_the_prompt(inference) -> None:
    """This 3-voice espeak meeting says "Who is going to present the results to the board?" twice
    running, the second time at the start of a chunk. Prompted with the text before it (which ends with
    that line), base skipped it and word alignment stretched the next line's "new" over it (2.8 s): the
    line was lost (WER 13.6 %, 5.6 % without prompts). A prompted chunk with a word over 2 s is now
    decoded again without its prompt."""
    from benchmarks.conversations import make_conversation
    from pipelines.transcribe import MAX_PROMPTED_WORD_S

    meeting = make_conversation(3, seed=13)
    segments = await transcribe_audio(meeting.audio, inference, language="en", prompt_mode="previous")
    text = " ".join(s.text for s in segments)
    assert text.lower().count("who is going to") == 2, text  # the line, heard twice
    assert word_error_rate(" ".join(w.text for w in meeting.words), text) <= 0.08, text
    assert max(w.end - w.start for s in segments for w in s.words) <= MAX_PROMPTED_WORD_S


def _batch_asr_counts(triton) -> tuple[int, int]:
    """(requests, batch executions) ``batch_asr`` has served so far."""
    stats = httpx.get(f"{triton.endpoints.http_url}/v2/models/batch_asr/stats", timeout=5).json()
    model = stats["model_stats"][0]
    return model["inference_count"], model["execution_count"]


async def test_concurrent_chunks_of_different_lengths_are_each_correct(triton, inference) -> None:
    short = conversation(CONVERSATION[:1], lead_silence_s=0.3, tail_silence_s=0.3)
    long = conversation(CONVERSATION, lead_silence_s=0.3, tail_silence_s=0.3)
    requests_before, executions_before = _batch_asr_counts(triton)
    short_result, long_result = await asyncio.gather(
        inference.transcribe_chunk(short.audio, language="en"),
        inference.transcribe_chunk(long.audio, language="auto"),
    )
    requests_after, executions_after = _batch_asr_counts(triton)
    assert (requests_after - requests_before, executions_after - executions_before) == (2, 1)  # one batch
    for clip, result in ((short, short_result), (long, long_result)):
        text = " ".join(s.text for s in result.segments)
        assert word_error_rate(clip.text, text) <= 0.15, text
        assert result.language == "en"
        assert all(0 <= w.start <= w.end <= clip.duration_s for s in result.segments for w in s.words)


async def test_a_bad_chunk_gets_its_own_error_while_a_good_one_succeeds(inference) -> None:
    good = conversation(CONVERSATION[:1], lead_silence_s=0.3, tail_silence_s=0.3)
    results = await asyncio.gather(
        inference.transcribe_chunk(good.audio, language="en"),
        inference.transcribe_chunk(np.zeros(0, np.float32), language="en"),
        inference.transcribe_chunk(np.zeros(31 * SAMPLE_RATE, np.float32), language="en"),
        inference.transcribe_chunk(good.audio, language="xx"),
        return_exceptions=True,
    )
    good_text = " ".join(s.text for s in results[0].segments)
    assert word_error_rate(good.text, good_text) <= 0.15, good_text
    assert isinstance(results[1], InferenceFailed) and "empty audio" in str(results[1])
    assert isinstance(results[2], InferenceFailed) and "longer than 30 s" in str(results[2])
    assert isinstance(results[3], InferenceFailed) and "'xx'" in str(results[3])  # English only / not a language


async def test_the_previous_chunks_text_can_be_given_as_prompt(inference) -> None:
    clip = conversation(CONVERSATION[2:3], lead_silence_s=0.3, tail_silence_s=0.3)
    result = await inference.transcribe_chunk(
        clip.audio, language="en", prompt="Good morning, my name is Alice and I work in sales."
    )
    assert word_error_rate(clip.text, " ".join(s.text for s in result.segments)) <= 0.15


async def test_batch_models_are_ready(inference) -> None:
    assert await inference.ready()
    assert await inference.models_ready(("vad", "batch_asr"))
    assert not await inference.models_ready(("no_such_model",))
