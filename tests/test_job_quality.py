"""Quality of diarized jobs on generated meetings of 2, 3 and 4 espeak voices, through the whole stack.

Ground truth comes from libespeak-ng's word events (``benchmarks/conversations.py``). Targets (issue):
DER ≤ 5 % with the speaker count given and ≤ 10 % without (pyannote.metrics, 0.25 s collar); ≥ 95 %
of words on the right speaker; median word start error ≤ 150 ms; WER ≤ 0.2. tiny.en measures
0.06-0.17 on these meetings: most errors are the back-channels ("mm-hmm" → "M.M.") and the result
moves by a few words with the chunks a batch brings together (the decoding window follows the
longest of them); a lost chunk or a broken merge costs 0.3 and more.
"""

from __future__ import annotations

import difflib
import re
import statistics
from collections.abc import Iterator

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from benchmarks.conversations import Conversation, Turn, der, make_conversation
from benchmarks.speech import word_error_rate
from clients.jobs_client import upload, wait_for_status, wav_bytes
from launchers.serve_process import ServeProcess
from tests.stack_fixtures import start_server, start_worker

VOICE_COUNTS = (2, 3, 4)


@pytest.fixture(scope="module")
def quality_server(triton, tmp_path_factory) -> Iterator[ServeProcess]:
    server = start_server(tmp_path_factory.mktemp("quality"), triton.endpoints)
    workers = [start_worker(server, f"worker-{index}") for index in range(2)]
    yield server
    for worker in workers:
        worker.stop()
    server.stop()


@pytest.fixture(scope="module")
def diarized_jobs(quality_server: ServeProcess) -> dict[tuple[int, bool], tuple[Conversation, dict]]:
    """Every conversation submitted twice (count given, count unknown), all queued at once."""
    conversations = {voices: make_conversation(voices, seed=voices) for voices in VOICE_COUNTS}
    submitted = {}
    for voices, conversation in conversations.items():
        for count_given in (True, False):
            fields = {"speaker_detection": "diarize"} | ({"num_speakers": voices} if count_given else {})
            response = upload(quality_server.http_url, wav_bytes(conversation.audio), **fields)
            assert response.status_code == 201, response.text
            submitted[voices, count_given] = response.json()["id"]
    return {
        key: (conversations[key[0]], wait_for_status(quality_server.http_url, job_id, timeout_s=600))
        for key, job_id in submitted.items()
    }


def _turns(job: dict) -> list[Turn]:
    return [Turn(segment["speaker"], segment["start"], segment["end"]) for segment in job["segments"]]


def _normal(word: str) -> str:
    return re.sub(r"[^a-z0-9]", "", word.lower())


def _aligned_words(conversation: Conversation, job: dict) -> list[tuple[object, dict]]:
    """Pairs (reference word, hypothesis word) of the words both transcripts agree on."""
    reference = list(conversation.words)
    hypothesis = job["words"]
    matcher = difflib.SequenceMatcher(
        a=[_normal(w.text) for w in reference], b=[_normal(w["word"]) for w in hypothesis], autojunk=False
    )
    return [
        (reference[block.a + i], hypothesis[block.b + i])
        for block in matcher.get_matching_blocks()
        for i in range(block.size)
    ]


def _speaker_mapping(pairs: list[tuple[object, dict]]) -> dict[str, int]:
    """Hypothesis label → reference speaker maximising agreement (Hungarian assignment)."""
    labels = sorted({hyp["speaker"] for _, hyp in pairs})
    speakers = sorted({ref.speaker for ref, _ in pairs})
    counts = np.zeros((len(labels), len(speakers)))
    for ref, hyp in pairs:
        counts[labels.index(hyp["speaker"]), speakers.index(ref.speaker)] += 1
    rows, cols = linear_sum_assignment(-counts)
    return {labels[r]: speakers[c] for r, c in zip(rows, cols)}


@pytest.mark.parametrize("voices", VOICE_COUNTS)
@pytest.mark.parametrize("count_given", [True, False], ids=["count-given", "count-estimated"])
def test_diarized_job_quality(diarized_jobs, voices: int, count_given: bool) -> None:
    conversation, job = diarized_jobs[voices, count_given]
    assert job["status"] == "completed", job
    assert [stage["name"] for stage in job["stages"]][:4] == ["prepare", "transcribe", "diarize", "merge"]

    error_rate = der(list(conversation.turns), _turns(job))
    assert error_rate <= (0.05 if count_given else 0.10), error_rate
    assert len(job["speakers"]) == voices
    assert [speaker["id"] for speaker in job["speakers"]] == [f"SPEAKER_{i:02d}" for i in range(voices)]
    first_seen = list(dict.fromkeys(segment["speaker"] for segment in job["segments"]))
    assert first_seen == [speaker["id"] for speaker in job["speakers"]]  # numbered by first appearance
    assert all(segment["speaker"] and segment["speaker_id"] == segment["speaker"] for segment in job["segments"])

    pairs = _aligned_words(conversation, job)
    # Back-channels are where tiny.en disagrees with the script ("mm-hmm" → "M.M.", "okay" → "OK"):
    # the speaker and timing measures cover the words both agree on, most of the meeting.
    assert len(pairs) >= 0.8 * len(conversation.words)
    mapping = _speaker_mapping(pairs)
    on_right_speaker = sum(mapping.get(hyp["speaker"]) == ref.speaker for ref, hyp in pairs) / len(pairs)
    assert on_right_speaker >= 0.95, on_right_speaker
    start_errors = [abs(hyp["start"] - ref.start) for ref, hyp in pairs]
    assert statistics.median(start_errors) <= 0.15, statistics.median(start_errors)

    reference_text = " ".join(word.text for word in conversation.words)
    assert word_error_rate(reference_text, job["text"]) <= 0.2


def test_segments_split_at_speaker_turns(diarized_jobs) -> None:
    """Inside a segment every word has the segment's speaker; neighbouring segments of one ASR
    segment differ in speaker."""
    _, job = diarized_jobs[2, True]
    for segment in job["segments"]:
        assert {word["speaker"] for word in segment["words"]} == {segment["speaker"]}
        assert segment["words"][0]["start"] >= segment["start"] - 0.01
        assert segment["words"][-1]["end"] <= segment["end"] + 0.01
