"""Session parameters and message (de)serialization."""

import msgspec
import pytest

from core.live_models import LiveModels, StreamingModel
from core.protocol import (
    AudioEncoding,
    ConfigMessage,
    EndMessage,
    TranscriptFinal,
    TranscriptPartial,
    Word,
    decode_client_message,
    decode_server_message,
    encode_message,
    parse_session_params,
)


def test_defaults_follow_the_spec() -> None:
    params = parse_session_params({})
    assert params.model == "" and params.encoding is AudioEncoding.PCM_S16LE
    assert (params.sample_rate, params.interim_results, params.word_timestamps, params.enable_vad) == (
        16000,
        True,
        False,
        True,
    )
    assert not (params.store_audio or params.store_transcript or params.enhance_on_end)


def test_query_strings_are_converted_and_unknown_names_ignored() -> None:
    params = parse_session_params(
        {
            "sample_rate": "44100",
            "word_timestamps": "true",
            "encoding": "pcm_f32le",
            "vocabulary": "x",
            "store_audio": "true",
            "enhance_on_end": "true",
            "num_speakers": "2",
        }
    )
    assert params.sample_rate == 44100 and params.word_timestamps and params.encoding is AudioEncoding.PCM_F32LE
    assert params.enhance_on_end and params.num_speakers == 2


@pytest.mark.parametrize(
    "query",
    [
        {"sample_rate": "7999"},
        {"sample_rate": "48001"},
        {"encoding": "opus"},
        {"enable_vad": "perhaps"},
        {"enhance_on_end": "true"},
        {"enhance_llm_cleanup": "true"},
        {"num_speakers": "0"},
        {"min_speakers": "4", "max_speakers": "2"},
    ],
)
def test_invalid_values_raise_value_error(query) -> None:
    with pytest.raises(ValueError):
        parse_session_params(query)


def test_messages_round_trip_with_their_type_tag() -> None:
    final = TranscriptFinal(
        text="hi", start=0.0, end=1.0, confidence=0.9, words=[Word(word="hi", start=0, end=1, confidence=0.9)]
    )
    encoded = encode_message(final)
    assert msgspec.json.decode(encoded)["type"] == "transcript.final"
    assert decode_server_message(encoded) == final
    assert "words" not in msgspec.json.decode(encode_message(TranscriptFinal(text="a", start=0, end=1, confidence=1)))
    assert decode_client_message('{"type":"config","language":"en"}') == ConfigMessage(language="en")
    assert decode_client_message('{"type":"end"}') == EndMessage()
    with pytest.raises(msgspec.ValidationError):
        decode_client_message('{"type":"rewind"}')


def test_every_word_carries_its_text_as_word_and_text() -> None:
    word = Word(word="hello", start=0.0, end=0.4, confidence=0.9)
    encoded = msgspec.json.decode(
        encode_message(TranscriptFinal(text="hello", start=0, end=1, confidence=0.9, words=[word]))
    )
    assert encoded["words"][0]["word"] == encoded["words"][0]["text"] == "hello"
    decoded = decode_server_message(
        '{"type":"transcript.final","text":"hi","start":0,"end":1,"confidence":1,'
        '"words":[{"word":"hi","start":0,"end":1,"confidence":1}]}'
    )
    assert decoded.words[0].text == "hi"


def _profile(name: str, triton_model: str, *, accurate: bool = False) -> StreamingModel:
    return StreamingModel(name, triton_model, language=None, accurate=accurate)


def test_a_session_selects_a_live_profile_by_name_or_dalston_alias() -> None:
    tiny, base = _profile("tiny.en", "streaming_asr"), _profile("base", "streaming_asr_base", accurate=True)
    models = LiveModels((tiny, base))
    assert models.default is tiny
    assert [models.select(name) for name in ("", "fast", "tiny.en", "base", "accurate")] == [
        tiny,
        tiny,
        tiny,
        base,
        base,
    ]
    with pytest.raises(ValueError, match="unknown model 'large-v3'"):
        models.select("large-v3")
    # With one profile, `accurate` is the default one.
    assert LiveModels((tiny,)).select("accurate") is tiny
    with pytest.raises(ValueError):
        LiveModels((base,))  # no streaming_asr: no default


def test_partial_stable_text_is_optional() -> None:
    partial = TranscriptPartial(text="Hello every", start=0.0, end=1.2, stable_text="Hello")
    assert decode_server_message(encode_message(partial)) == partial
    old = decode_server_message('{"type":"transcript.partial","text":"Hi","start":0,"end":1}')
    assert old.stable_text is None
    assert "stable_text" not in msgspec.json.decode(encode_message(old))
