"""LLM cleanup against a real llama.cpp server: words and times stay aligned, bad edits and faults are contained."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core.llm_client import LlmClient
from core.transcript import Segment, Speaker, Transcript, make_word
from launchers.llm_server import LlmServer, LlmStartError
from pipelines.llm_cleanup import CleanupOptions, align_words, clean_transcript, word_similarity


def _segment(segment_id: int, text: str, start: float, speaker: str) -> Segment:
    words = []
    for index, token in enumerate(text.split()):
        words.append(make_word(token, start + 0.3 * index, start + 0.3 * index + 0.25, 0.9, speaker))
    return Segment(id=segment_id, start=start, end=words[-1].end, text=text, speaker=speaker, confidence=0.9,
                   words=words)


def _transcript(*lines: tuple[str, str]) -> Transcript:
    segments, start = [], 0.0
    for index, (speaker, text) in enumerate(lines):
        segments.append(_segment(index, text, start, speaker))
        start = segments[-1].end + 0.5
    return Transcript(
        language="en", duration=start, text=" ".join(t for _, t in lines), segments=segments,
        speakers=[Speaker(id=s) for s in dict.fromkeys(s for s, _ in lines)],
        words=[w for s in segments for w in s.words],
    )


FILLER_CONVERSATION = _transcript(
    ("SPEAKER_00", "um so we need to uh finish the report before friday afternoon"),
    ("SPEAKER_01", "uh yes i can send the numbers tomorrow morning"),
    ("SPEAKER_00", "good thank you"),
)


async def test_cleanup_removes_fillers_and_moves_no_timestamp_or_speaker(llm_endpoint: str) -> None:
    async with LlmClient(llm_endpoint, timeout_s=60) as client:
        result = await clean_transcript(FILLER_CONVERSATION, client)
    assert not [w for w in result.warnings if "skipped" in w]
    cleaned = result.transcript
    assert [s.text for s in cleaned.segments] != [s.text for s in FILLER_CONVERSATION.segments]
    original_times = {(w.start, w.end, w.speaker) for w in FILLER_CONVERSATION.words}
    for before, after in zip(FILLER_CONVERSATION.segments, cleaned.segments, strict=True):
        assert (after.id, after.start, after.end) == (before.id, before.start, before.end)
        assert after.speaker == before.speaker
        assert {(w.start, w.end, w.speaker) for w in after.words} <= original_times
        assert all(w.word == w.text for w in after.words)
    assert "um" not in cleaned.segments[0].text.lower().split()
    assert [w.word.lower() for w in cleaned.segments[0].words if w.word.lower() in {"um", "uh"}] == []
    assert cleaned.words == [w for s in cleaned.segments for w in s.words]


def test_word_similarity_ignores_fillers_and_punctuation() -> None:
    assert word_similarity("um so we uh need it", "So we need it.") == 1.0
    assert word_similarity("the whether is nice and the son is shining", "We need to finish the report.") < 0.3


def test_alignment_keeps_times_and_takes_the_cleaned_spelling() -> None:
    segment = _segment(0, "um so i i work in sales", 1.0, "SPEAKER_00")
    aligned = align_words(segment.words, "So I work in sales.")
    assert [w.word for w in aligned] == ["So", "I", "work", "in", "sales."]
    assert [w.start for w in aligned] == [segment.words[i].start for i in (1, 3, 4, 5, 6)]
    assert align_words(segment.words, "So I'm working in sales.") is None  # three words became two: keep them


class _RewritingClient:
    """An LLM that answers off-topic. The real model does so only now and then, so this one is a fake on purpose."""

    async def complete_json(self, messages, schema, *, max_tokens=256):  # noqa: ANN001, ANN201, ARG002
        return {"text": "We need to finish the quarterly report before Friday."}


async def test_an_edit_below_the_similarity_bound_is_rejected_with_a_warning() -> None:
    transcript = _transcript(("SPEAKER_00", "the weather is nice and the sun is shining"))
    result = await clean_transcript(transcript, _RewritingClient())  # type: ignore[arg-type]
    assert result.transcript.segments == transcript.segments
    assert len(result.warnings) == 1 and "rejected" in result.warnings[0]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_a_down_endpoint_skips_the_stage_with_a_warning() -> None:
    async with LlmClient(f"http://127.0.0.1:{_closed_port()}/v1", timeout_s=2) as client:
        result = await clean_transcript(FILLER_CONVERSATION, client)
    assert result.transcript is FILLER_CONVERSATION
    assert len(result.warnings) == 1 and "skipped" in result.warnings[0]


async def test_a_slow_endpoint_skips_the_stage_with_a_warning(llm_endpoint: str) -> None:
    async with LlmClient(llm_endpoint, timeout_s=0.01) as client:
        result = await clean_transcript(FILLER_CONVERSATION, client, CleanupOptions())
    assert result.transcript is FILLER_CONVERSATION
    assert "skipped" in result.warnings[0]


def test_the_launcher_shows_the_log_when_the_model_cannot_load(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    with pytest.raises(LlmStartError, match="exited"):
        LlmServer(broken, tmp_path / "work", start_timeout_s=30).start()


def test_the_settings_start_a_loopback_llm_for_a_gguf_path(tmp_path: Path, llm_endpoint: str) -> None:
    import httpx

    from core.settings import load_settings
    from launchers.llm_server import PACKAGED_QWEN, ensure_llm

    assert ensure_llm(load_settings({}, data_dir=tmp_path)) == ("", None)
    assert ensure_llm(load_settings({"TANDEM_LLM_URL": llm_endpoint})) == (llm_endpoint, None)
    url, server = ensure_llm(load_settings({"TANDEM_LLM_GGUF_PATH": PACKAGED_QWEN}, data_dir=tmp_path))
    try:
        assert server is not None and httpx.get(f"{url}/models").status_code == 200
    finally:
        server.stop()
    assert not server.is_running()
