"""Live transcription through a real WebSocket client, the real control plane and real Triton.

Speech is espeak-ng, streamed at real-time pace where timing matters (``speed=1``) and as fast as
possible elsewhere. WER threshold: 0.2. tiny.en decodes these four lines with WER 0-0.1 from
whole-utterance audio (measured when the suite was written); live finals are decoded from VAD-cut
audio and may lose an edge word, so the bound leaves one error in ten words of slack, still far
below what a broken pipeline produces (garbage, loops or missing utterances give WER > 0.5).
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import websockets

from benchmarks.live_scoring import normalize_words
from benchmarks.speech import CONVERSATION, SAMPLE_RATE, conversation, word_error_rate
from clients.stream_client import StreamResult, encode_audio, stream_audio, stream_url
from core.protocol import (
    AudioEncoding,
    CloseCode,
    ErrorCode,
    ErrorMessage,
    FlushMessage,
    SessionBegin,
    SessionEnd,
    SpeechEnd,
    SpeechStart,
    TranscriptFinal,
    TranscriptPartial,
    decode_server_message,
    encode_message,
)

WER_THRESHOLD = 0.2


async def _stream(server, audio: np.ndarray, *, speed: float = 0.0, encoding=AudioEncoding.PCM_S16LE,
                  sample_rate: int = SAMPLE_RATE, **query) -> StreamResult:
    if sample_rate != SAMPLE_RATE:
        import soxr

        audio = soxr.resample(audio, SAMPLE_RATE, sample_rate).astype(np.float32)
    width = 2 if encoding is AudioEncoding.PCM_S16LE else 4
    url = stream_url(server.ws_url, {"encoding": encoding.value, "sample_rate": sample_rate, **query})
    return await stream_audio(url, encode_audio(audio, encoding), bytes_per_second=sample_rate * width, speed=speed)


def _finals(result: StreamResult) -> list[TranscriptFinal]:
    return result.of_type(TranscriptFinal)


async def test_realtime_conversation_partials_finals_and_words(server, speech) -> None:
    result = await _stream(server, speech.audio, speed=1.0, word_timestamps=True)

    messages = [m.message for m in result.messages]
    assert isinstance(messages[0], SessionBegin)
    assert messages[0].model == "tiny.en" and messages[0].config.word_timestamps is True
    assert isinstance(messages[-1], SessionEnd) and result.close_code == CloseCode.NORMAL
    assert not result.of_type(ErrorMessage)

    finals = _finals(result)
    transcript = " ".join(f.text for f in finals)
    assert word_error_rate(speech.text, transcript) <= WER_THRESHOLD, transcript

    # VAD events bracket each spoken line.
    starts, ends = result.of_type(SpeechStart), result.of_type(SpeechEnd)
    assert len(starts) == len(ends) == len(speech.utterances)
    for utterance, start, end in zip(speech.utterances, starts, ends):
        assert abs(start.timestamp - utterance.speech_start_s) < 0.3
        assert abs(end.timestamp - utterance.speech_end_s) < 0.4

    for utterance in speech.utterances:
        covering = [f for f in finals if f.start < utterance.speech_end_s and f.end > utterance.speech_start_s]
        assert covering, f"no final for {utterance.text!r}"
        first_final_index = min(messages.index(f) for f in covering)
        partials_before = [
            m for m in messages[:first_final_index]
            if isinstance(m, TranscriptPartial) and utterance.speech_start_s - 0.5 <= m.start < utterance.speech_end_s
        ]
        assert partials_before, f"no partial before the final of {utterance.text!r}"
        for partial in partials_before:
            assert partial.start <= partial.end and partial.text
        # Committed words are never taken back: each partial's stable_text starts every later
        # partial of the utterance and its final.
        later_texts = [p.text.split() for p in partials_before] + [messages[first_final_index].text.split()]
        for index, partial in enumerate(partials_before):
            assert partial.stable_text is not None and partial.text.startswith(partial.stable_text)
            stable = partial.stable_text.split()
            for text in later_texts[index + 1 :]:
                assert text[: len(stable)] == stable, (partial.stable_text, " ".join(text))
        # Shown words are taken back only once agreement confirms the change (the new partial's
        # committed words reach past the first changed word), or while nothing can commit yet
        # (the first second of audio), or after a hold: 1 s, 0.5 s while no word is agreed yet.
        for earlier, later in zip(partials_before, partials_before[1:]):
            shown, new = normalize_words(earlier.text), normalize_words(later.text)
            kept = next((i for i, (a, b) in enumerate(zip(shown, new)) if a != b), min(len(shown), len(new)))
            if kept < len(shown):
                assert (
                    len(later.stable_text.split()) > kept
                    or later.end - later.start < 1.0
                    or later.end - earlier.end >= (1.0 if later.stable_text else 0.5) - 0.002
                ), (earlier.text, later.text, later.stable_text)
    assert any(m.stable_text for m in messages if isinstance(m, TranscriptPartial)), "no partial committed a word"

    for final in finals:
        assert final.words, final
        assert 0.0 < final.confidence <= 1.0
        previous_start = final.start
        for word in final.words:
            assert final.start <= word.start <= word.end <= final.end, (final.start, final.end, word)
            assert word.start >= previous_start
            previous_start = word.start
        assert " ".join(w.word for w in final.words).split() == final.text.split()
        assert all(w.text == w.word for w in final.words), "every word also carries `text`"

    end = result.session_end
    assert end.transcript == transcript
    assert [(s.start, s.end, s.text) for s in end.segments] == [(f.start, f.end, f.text) for f in finals]
    assert end.total_audio_seconds == pytest.approx(speech.duration_s, abs=0.02)


@pytest.mark.parametrize(
    ("requested", "profile"),
    [("", "tiny.en"), ("fast", "tiny.en"), ("tiny.en", "tiny.en"), ("base", "base"), ("accurate", "base")],
)
async def test_each_session_gets_the_live_profile_it_asks_for(server, requested, profile) -> None:
    """`model=` picks a Triton model per session (Dalston's `fast`/`accurate` aliases too); the
    multilingual `base` profile detects the language of `language=auto`."""
    clip = conversation(CONVERSATION[:1])
    result = await _stream(server, clip.audio, model=requested, language="auto")
    begin = result.messages[0].message
    assert isinstance(begin, SessionBegin) and begin.model == profile and begin.config.model == profile
    assert begin.language == ("en" if profile == "tiny.en" else "auto")
    assert word_error_rate(clip.text, result.session_end.transcript) <= WER_THRESHOLD


async def test_sessions_on_both_profiles_at_once(server) -> None:
    clips = [conversation(CONVERSATION[:2]), conversation(CONVERSATION[2:])]
    results = await asyncio.gather(
        _stream(server, clips[0].audio, speed=2.0, model="tiny.en"),
        _stream(server, clips[1].audio, speed=2.0, model="base", language="en"),
    )
    for clip, result, profile in zip(clips, results, ("tiny.en", "base")):
        assert result.messages[0].message.model == profile
        assert result.of_type(TranscriptPartial), "each profile sends partials"
        assert word_error_rate(clip.text, result.session_end.transcript) <= WER_THRESHOLD


@pytest.mark.parametrize(
    ("encoding", "sample_rate"),
    [(AudioEncoding.PCM_F32LE, 44100), (AudioEncoding.PCM_S16LE, 8000), (AudioEncoding.PCM_F32LE, 48000)],
)
async def test_encodings_and_sample_rates_are_resampled(server, encoding, sample_rate) -> None:
    clip = conversation(CONVERSATION[:2])
    result = await _stream(server, clip.audio, encoding=encoding, sample_rate=sample_rate)
    begin = result.messages[0].message
    assert begin.sample_rate == sample_rate and begin.encoding == encoding
    transcript = result.session_end.transcript
    assert word_error_rate(clip.text, transcript) <= WER_THRESHOLD, transcript
    assert result.session_end.total_audio_seconds == pytest.approx(clip.duration_s, abs=0.05)


async def test_flush_finalizes_buffered_speech_at_once(server) -> None:
    clip = conversation(CONVERSATION[:1], tail_silence_s=0.0)
    url = stream_url(server.ws_url, {"interim_results": False})
    async with websockets.connect(url) as socket:
        assert isinstance(decode_server_message(await socket.recv()), SessionBegin)
        audio = encode_audio(clip.audio, AudioEncoding.PCM_S16LE)
        for offset in range(0, len(audio), 3200):
            await socket.send(audio[offset : offset + 3200])
        await socket.send(encode_message(FlushMessage()))
        final = None
        while final is None:
            message = decode_server_message(await asyncio.wait_for(socket.recv(), 30))
            assert not isinstance(message, TranscriptPartial), "interim_results=false must send no partials"
            if isinstance(message, TranscriptFinal):
                final = message
        assert word_error_rate(clip.text, final.text) <= WER_THRESHOLD, final.text
        await socket.send(json.dumps({"type": "end"}))
        messages = [decode_server_message(raw) async for raw in socket]
        assert isinstance(messages[-1], SessionEnd)
        assert messages[-1].transcript == final.text


async def test_without_vad_the_final_comes_at_end(server) -> None:
    clip = conversation(CONVERSATION[:1])
    result = await _stream(server, clip.audio, enable_vad=False)
    assert not result.of_type(SpeechStart)
    finals = _finals(result)
    assert len(finals) == 1
    assert word_error_rate(clip.text, finals[0].text) <= WER_THRESHOLD


async def test_unknown_query_parameters_are_ignored(server) -> None:
    clip = conversation(CONVERSATION[:1])
    result = await _stream(server, clip.audio, language="auto", vocabulary="Tandem", pii_detection="true")
    assert not result.of_type(ErrorMessage)
    begin = result.messages[0].message
    assert begin.language == "en" == begin.config.language, "auto resolves to the English-only model's language"
    assert word_error_rate(clip.text, result.session_end.transcript) <= WER_THRESHOLD


@pytest.mark.parametrize(
    "query",
    [
        {"sample_rate": "1000"},
        {"sample_rate": "sixteen"},
        {"encoding": "mp3"},
        {"word_timestamps": "maybe"},
        {"enhance_on_end": "true"},
        {"store_audio": "true", "enhance_emotions": "true"},
        {"enhance_llm_cleanup": "true"},
        {"min_speakers": "3", "max_speakers": "2"},
        {"model": "no-such-model"},
        {"language": "fr"},
        {"model": "base", "language": "klingon"},
    ],
)
async def test_invalid_parameters_are_refused_with_4400(server, query) -> None:
    async with websockets.connect(stream_url(server.ws_url, query)) as socket:
        message = decode_server_message(await socket.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()
    assert isinstance(message, ErrorMessage)
    assert message.code == ErrorCode.INVALID_PARAMETERS and message.recoverable is False
    assert socket.close_code == CloseCode.INVALID_PARAMETERS


async def test_bad_messages_and_frames_are_reported_and_the_session_goes_on(server) -> None:
    clip = conversation(CONVERSATION[:1])
    audio = encode_audio(clip.audio, AudioEncoding.PCM_S16LE)
    async with websockets.connect(stream_url(server.ws_url, {})) as socket:
        assert isinstance(decode_server_message(await socket.recv()), SessionBegin)
        bad_inputs = [
            ("{not json", ErrorCode.INVALID_MESSAGE),
            (json.dumps({"type": "dance"}), ErrorCode.INVALID_MESSAGE),
            (json.dumps(["end"]), ErrorCode.INVALID_MESSAGE),
            (b"\x00" * (SAMPLE_RATE * 2 * 2), ErrorCode.INVALID_AUDIO),  # 2 s in one frame
            (b"\x01\x02\x03", ErrorCode.INVALID_AUDIO),  # odd length
        ]
        for payload, expected in bad_inputs:
            await socket.send(payload)
            message = decode_server_message(await asyncio.wait_for(socket.recv(), 10))
            assert isinstance(message, ErrorMessage), message
            assert message.code == expected and message.recoverable is True
        for offset in range(0, len(audio), 3200):
            await socket.send(audio[offset : offset + 3200])
        await socket.send(json.dumps({"type": "end"}))
        messages = [decode_server_message(raw) async for raw in socket]
    end = messages[-1]
    assert isinstance(end, SessionEnd)
    assert end.total_audio_seconds == pytest.approx(clip.duration_s, abs=0.02), "dropped frames must not count"
    assert word_error_rate(clip.text, end.transcript) <= WER_THRESHOLD


async def test_bad_clients_do_not_affect_a_concurrent_session(server, speech) -> None:
    async def misbehave() -> None:
        for _ in range(5):
            async with websockets.connect(stream_url(server.ws_url, {"sample_rate": "5"})) as socket:
                await socket.recv()
            async with websockets.connect(stream_url(server.ws_url, {})) as socket:
                await socket.recv()
                await socket.send(b"\x00" * 400_000)
                await socket.send("][")
            # and one that vanishes mid-stream without `end`
            async with websockets.connect(stream_url(server.ws_url, {})) as socket:
                await socket.send(encode_audio(speech.audio[: SAMPLE_RATE], AudioEncoding.PCM_S16LE))
            await asyncio.sleep(0.3)

    good, _ = await asyncio.gather(_stream(server, speech.audio, speed=2.0), misbehave())
    assert not good.of_type(ErrorMessage)
    assert word_error_rate(speech.text, good.session_end.transcript) <= WER_THRESHOLD


async def test_concurrent_sessions_are_batched_by_triton(server, triton) -> None:
    from benchmarks.triton_metrics import read_triton_metrics

    def asr_counts() -> tuple[float, float]:
        counts = read_triton_metrics(triton.endpoints.metrics_url)["streaming_asr"]
        return counts["nv_inference_count"], counts["nv_inference_exec_count"]

    clip = conversation(CONVERSATION[:2])
    before = asr_counts()
    results = await asyncio.gather(*(_stream(server, clip.audio, speed=1.5) for _ in range(4)))
    after = asr_counts()
    inferences, executions = after[0] - before[0], after[1] - before[1]
    assert executions > 0 and inferences / executions > 1.0, (inferences, executions)
    for result in results:
        assert word_error_rate(clip.text, result.session_end.transcript) <= WER_THRESHOLD


# Decodes a session asks for per second of audio: a partial every ``partial_interval_s`` (0.3 s;
# 0.15 s in an utterance's first 1.2 s), never two in flight, and one final per utterance. The four
# lines at real-time pace measured 2.3 on a loaded machine (3.1 for the held-out lines at quarter
# speed, where no partial waits for the one in flight); above the bound, something decodes more
# often than the cadence (benchmarks/live_decode_counts.py counts it per level).
MAX_DECODES_PER_AUDIO_S = 3.5


async def test_decodes_per_second_of_audio_stay_within_the_partial_cadence(server, triton, speech) -> None:
    from benchmarks.triton_metrics import read_triton_metrics

    def requests() -> float:
        return read_triton_metrics(triton.endpoints.metrics_url)["streaming_asr"]["nv_inference_request_success"]

    before = requests()
    result = await _stream(server, speech.audio, speed=1.0)
    decodes_per_audio_s = (requests() - before) / speech.duration_s
    assert 0 < decodes_per_audio_s <= MAX_DECODES_PER_AUDIO_S, decodes_per_audio_s
    assert word_error_rate(speech.text, result.session_end.transcript) <= WER_THRESHOLD


async def test_model_server_down_at_connect_gives_4503(triton, tmp_path) -> None:
    from launchers.triton_server import TritonServer
    from tests.stack_fixtures import MODEL_REPOSITORY, start_server

    own_triton = TritonServer(MODEL_REPOSITORY, tmp_path / "triton")
    own_triton.start()
    server = start_server(tmp_path / "server", own_triton.endpoints)
    try:
        own_triton.stop()
        async with websockets.connect(stream_url(server.ws_url, {})) as socket:
            message = decode_server_message(await socket.recv())
            with pytest.raises(websockets.ConnectionClosed):
                await socket.recv()
        assert isinstance(message, ErrorMessage) and message.code == ErrorCode.MODEL_UNAVAILABLE
        assert socket.close_code == CloseCode.MODEL_UNAVAILABLE
        import httpx

        ready = httpx.get(f"{server.http_url}/health/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["triton"] is False
        assert httpx.get(f"{server.http_url}/health/live").status_code == 200
    finally:
        server.stop()
        own_triton.stop()


async def test_audio_faster_than_real_time_gets_a_processing_lag_warning(server, speech) -> None:
    from core.protocol import WarningCode, WarningMessage

    result = await _stream(server, speech.audio, speed=0)  # the whole clip at once
    warnings = result.of_type(WarningMessage)
    assert warnings and warnings[0].code == WarningCode.PROCESSING_LAG
    assert word_error_rate(speech.text, result.session_end.transcript) <= WER_THRESHOLD, "nothing is dropped"


async def test_model_server_lost_mid_session_keeps_the_session_and_its_recording(triton, tmp_path) -> None:
    import httpx

    from launchers.triton_server import TritonServer
    from tests.stack_fixtures import MODEL_REPOSITORY, start_server

    own_triton = TritonServer(MODEL_REPOSITORY, tmp_path / "triton")
    own_triton.start()
    server = start_server(tmp_path / "server", own_triton.endpoints)
    clip = conversation(CONVERSATION[:2])
    sent = encode_audio(clip.audio, AudioEncoding.PCM_S16LE)
    half = len(sent) // 2 // 2 * 2
    try:
        async with websockets.connect(stream_url(server.ws_url, {"store_audio": True})) as socket:
            session_id = decode_server_message(await socket.recv()).session_id
            for offset in range(0, half, 3200):
                await socket.send(sent[offset : min(offset + 3200, half)])
            await socket.send(encode_message(FlushMessage()))
            while not isinstance(decode_server_message(await asyncio.wait_for(socket.recv(), 60)), TranscriptFinal):
                pass  # the flushed speech is transcribed before the model server goes
            own_triton.stop()
            for offset in range(half, len(sent), 3200):
                await socket.send(sent[offset : offset + 3200])
            await socket.send(json.dumps({"type": "end"}))
            messages = [decode_server_message(raw) async for raw in socket]
        errors = [m for m in messages if isinstance(m, ErrorMessage)]
        assert errors and all(e.code == ErrorCode.MODEL_UNAVAILABLE and e.recoverable for e in errors)
        end = messages[-1]
        assert isinstance(end, SessionEnd) and end.audio_uri
        assert end.total_audio_seconds == pytest.approx(clip.duration_s, abs=0.001)
        kept_wer = word_error_rate(clip.utterances[0].text, end.transcript)
        assert kept_wer <= WER_THRESHOLD, "speech before the loss is kept"
        audio = httpx.get(f"{server.http_url}/v1/audio/transcriptions/stream/{session_id}/audio")
        assert audio.status_code == 200 and audio.content[44:] == sent
    finally:
        server.stop()
        own_triton.stop()


def test_readiness_metrics_and_openapi_are_served(server) -> None:
    import httpx

    ready = httpx.get(f"{server.http_url}/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"triton": True, "redis": True, "database": True, "store": True}}
    assert "tandem_live_sessions_total" in httpx.get(f"{server.http_url}/metrics").text
    paths = httpx.get(f"{server.http_url}/schema/openapi.json").json()["paths"]
    assert "/v1/audio/transcriptions/stream/{session_id}/audio" in paths


def test_quick_start_stream_command_prints_the_transcript(server, tmp_path) -> None:
    import subprocess
    import sys

    import soundfile

    clip = conversation(CONVERSATION[:1])
    wav = tmp_path / "hello.wav"
    soundfile.write(wav, clip.audio, SAMPLE_RATE)
    completed = subprocess.run(
        [sys.executable, "-m", "clients.cli", "stream", str(wav), "--url", server.ws_url, "--speed", "0",
         "--store-audio"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    printed = completed.stdout
    transcript = " ".join(line.split("]", 1)[1] for line in printed.splitlines() if line.startswith("["))
    assert word_error_rate(clip.text, transcript) <= WER_THRESHOLD, printed
    assert "session sess_" in printed and "audio: file://" in printed


def test_stream_command_refused_prints_the_reason_and_exits_1(server, tmp_path) -> None:
    """An unknown live profile: the server answers `invalid_parameters` and closes while the client
    is sending; the command shows the error, not a traceback."""
    import subprocess
    import sys

    import soundfile

    wav = tmp_path / "hello.wav"
    soundfile.write(wav, conversation(CONVERSATION[:1]).audio, SAMPLE_RATE)
    completed = subprocess.run(
        [sys.executable, "-m", "clients.cli", "stream", str(wav), "--url", server.ws_url, "--model", "large"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "error invalid_parameters: unknown model 'large'" in completed.stdout, completed.stdout
    assert "Traceback" not in completed.stderr, completed.stderr


async def test_fast_turn_taking_keeps_every_line_in_the_finals(server) -> None:
    """Two speakers 0.25 s apart (under the VAD's silence window) make one live utterance whose
    first sentence the partials commit; the final still holds the second speaker's line (it was
    lost: Whisper, forced to start with a finished sentence, stopped after it)."""
    from benchmarks.conversations import make_conversation

    meeting = make_conversation(2, seed=0)
    cut_s = 6.4  # the first two turns: "That sounds reasonable…" then "The server migration…"
    audio = np.concatenate([meeting.audio[: int(cut_s * SAMPLE_RATE)], np.zeros(SAMPLE_RATE, np.float32)])
    reference = " ".join(w.text for w in meeting.words if w.end < cut_s)
    result = await _stream(server, audio, speed=1.0)
    finals = " ".join(f.text for f in _finals(result))
    assert "took longer than we planned" in finals.lower(), finals
    assert word_error_rate(reference, finals) <= 0.3, finals
