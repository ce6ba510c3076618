"""Live speaker labels (``diarize=true``) through a real WebSocket client, the control plane and Triton.

Audio is espeak-ng meetings with exact word times and speakers (``benchmarks.conversations``),
streamed as fast as the server takes it. Word-speaker accuracy bound 0.8: the benchmark measures
0.9-1.0 on these two-voice meetings (README); a labeller that does not separate the voices scores
about 0.5-0.6 (the majority voice), one that over-splits fails the label count checks.
"""

from __future__ import annotations

import subprocess
import sys

import msgspec
import numpy as np
import pytest

from benchmarks.conversations import make_conversation
from benchmarks.speaker_scoring import score_speakers
from benchmarks.speech import SAMPLE_RATE, espeak_available
from clients.stream_client import StreamResult, encode_audio, stream_audio, stream_url
from core.live_transcript import LiveTranscript
from core.protocol import (
    AudioEncoding,
    EnhancementCompleted,
    ErrorCode,
    ErrorMessage,
    SessionBegin,
    TranscriptFinal,
)
from core.storage.keys import session_transcript_key
from tests.stack_fixtures import start_server, start_worker

ACCURACY_BOUND = 0.8

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


async def _stream(server, audio: np.ndarray, **query) -> StreamResult:
    url = stream_url(server.ws_url, {"diarize": True, **query})
    return await stream_audio(url, encode_audio(audio, AudioEncoding.PCM_S16LE), bytes_per_second=32000, speed=0.0)


def _labels_in_order(finals: list[TranscriptFinal]) -> list[str]:
    seen: list[str] = []
    for final in finals:
        for label in [final.speaker, *(w.speaker for w in final.words or [])]:
            if label not in seen:
                seen.append(label)
    return seen


async def test_two_voices_get_two_stable_labels_on_finals_words_and_session_end(server) -> None:
    meeting = make_conversation(2, seed=1)
    result = await _stream(server, meeting.audio, word_timestamps=True, store_transcript=True)
    assert not result.of_type(ErrorMessage)
    assert result.of_type(SessionBegin)[0].config.diarize is True
    finals = result.of_type(TranscriptFinal)
    assert finals and all(f.speaker and f.words for f in finals)
    for final in finals:  # a final is one speaker: split where the speaker changes
        assert {w.speaker for w in final.words} == {final.speaker}, final
    assert _labels_in_order(finals) == ["S0", "S1"]  # by first appearance; the second voice opened S1

    score = score_speakers(finals, meeting.words)
    assert score.accuracy >= ACCURACY_BOUND, score
    assert score.unlabelled_words <= 0.1 * len(meeting.words), score

    end = result.session_end
    assert [(s.start, s.end, s.text, s.speaker) for s in end.segments] == [
        (f.start, f.end, f.text, f.speaker) for f in finals
    ]
    stored = msgspec.json.decode(
        (server.data_dir / "objects" / session_transcript_key(end.session_id)).read_bytes(), type=LiveTranscript
    )
    assert [(f.text, f.speaker) for f in stored.segments] == [(f.text, f.speaker) for f in finals]


async def test_one_voice_stays_one_label_over_a_long_clip(server) -> None:
    meeting = make_conversation(1, seed=3, sentences=12)  # ~45 s of one voice, no back-channels
    assert meeting.duration_s > 35
    result = await _stream(server, meeting.audio, word_timestamps=True)
    finals = result.of_type(TranscriptFinal)
    assert len(finals) >= 4
    assert _labels_in_order(finals) == ["S0"]


async def test_diarize_without_word_timestamps_still_labels_every_final(server) -> None:
    meeting = make_conversation(2, seed=2)
    result = await _stream(server, meeting.audio)
    finals = result.of_type(TranscriptFinal)
    assert finals and all(f.speaker for f in finals) and all(f.words is None for f in finals)
    # both voices labelled; a short part may open an extra label when the host is loaded (README: left)
    assert {"S0", "S1"} <= set(_labels_in_order(finals))
    assert score_speakers(finals, meeting.words).accuracy >= ACCURACY_BOUND


async def test_an_invalid_diarize_value_is_refused(server) -> None:
    result = await _stream(server, np.zeros(SAMPLE_RATE, np.float32), diarize="maybe")
    errors = result.of_type(ErrorMessage)
    assert errors and errors[0].code is ErrorCode.INVALID_PARAMETERS and "diarize" in errors[0].message


def test_stream_command_shows_live_labels(server, tmp_path) -> None:
    import soundfile

    meeting = make_conversation(2, seed=1)
    wav = tmp_path / "meeting.wav"
    soundfile.write(wav, meeting.audio, SAMPLE_RATE)
    completed = subprocess.run(
        [sys.executable, "-m", "clients.cli", "stream", str(wav), "--url", server.ws_url, "--speed", "0", "--diarize"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("[")]
    labels = {line.split("]", 1)[1].split(":", 1)[0].strip() for line in lines}
    assert labels == {"S0", "S1"}, completed.stdout


@pytest.fixture(scope="module")
def enhancing_server(triton, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("live-speakers"), triton.endpoints)
    worker = start_worker(server)
    yield server
    worker.stop()
    server.stop()


async def test_the_enhanced_transcript_says_which_live_label_each_speaker_had(enhancing_server) -> None:
    meeting = make_conversation(2, seed=1)
    url = stream_url(
        enhancing_server.ws_url,
        {"diarize": True, "store_audio": True, "enhance_on_end": True, "enhance_wait": True, "num_speakers": 2},
    )
    result = await stream_audio(
        url,
        encode_audio(meeting.audio, AudioEncoding.PCM_S16LE),
        bytes_per_second=32000,
        speed=0.0,
        reply_timeout_s=600,
    )
    live_labels = _labels_in_order(result.of_type(TranscriptFinal))
    enhanced = result.of_type(EnhancementCompleted)[0].transcript
    assert [s.id for s in enhanced.speakers] == ["SPEAKER_00", "SPEAKER_01"]
    assert sorted(s.live_label for s in enhanced.speakers) == sorted(live_labels) == ["S0", "S1"]
    # The mapping agrees with the words: most words of each enhanced speaker had its live label live.
    live_finals = result.of_type(TranscriptFinal)
    by_speaker = {s.id: s.live_label for s in enhanced.speakers}
    agreeing = sum(
        1
        for word in enhanced.words
        if any(
            f.start <= (word.start + word.end) / 2 <= f.end and f.speaker == by_speaker[word.speaker]
            for f in live_finals
        )
    )
    assert agreeing >= 0.8 * len(enhanced.words)
