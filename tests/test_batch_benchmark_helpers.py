"""The pure helpers of benchmarks/batch.py (no stack, no long runs)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.baseline import pipeline_vs_baseline, ratio
from benchmarks.batch_jobs import jobs_per_minute, stage_rtfs
from benchmarks.meetings import join_meetings
from benchmarks.stack import MODEL_REPOSITORY, with_parameter, without_dynamic_batching


def test_join_meetings_puts_silence_between_parts() -> None:
    meeting = join_meetings(
        [(np.ones(16000, np.float32), "hello there"), (np.ones(8000, np.float32), "bye")], gap_s=0.5
    )
    assert meeting.duration_s == pytest.approx(2.0)
    assert meeting.text == "hello there bye"
    assert meeting.audio[16000:24000].max() == 0


def test_without_dynamic_batching_removes_only_that_block() -> None:
    config = (MODEL_REPOSITORY / "batch_asr" / "config.pbtxt").read_text()
    stripped = without_dynamic_batching(config)
    assert "dynamic_batching" not in stripped
    assert "max_queue_delay_microseconds" not in stripped
    assert "instance_group" in stripped and "max_batch_size: 8" in stripped
    assert without_dynamic_batching(stripped) == stripped


def test_with_parameter_replaces_a_string_parameter() -> None:
    config = (MODEL_REPOSITORY / "batch_asr" / "config.pbtxt").read_text()
    changed = with_parameter(config, "model_path", "package:x.y")
    assert 'key: "model_path" value: { string_value: "package:x.y" }' in changed
    with pytest.raises(ValueError):
        with_parameter(config, "no_such_key", "1")


def test_stage_rtfs_and_throughput() -> None:
    job = {"stages": [{"name": "transcribe", "duration_ms": 6000}, {"name": "merge", "duration_ms": None}]}
    assert stage_rtfs(job, 60.0) == {"transcribe": pytest.approx(0.1)}
    assert jobs_per_minute(4, 120.0) == pytest.approx(2.0)


def test_ratio_is_missing_without_both_figures() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None
    assert ratio(1.0, 0.0) is None


def test_pipeline_vs_baseline_splits_the_time() -> None:
    level = {"audio_s": 60.0, "rtf_end_to_end_mean": 0.3, "rtf_stage_mean": {"transcribe": 0.1, "diarize": 0.15}}
    split = pipeline_vs_baseline(level, {"rtf": 0.1})
    assert split == {
        "audio_s": 60.0,
        "end_to_end": 3.0,
        "transcribe_stage": 1.0,
        "diarize_stage": 1.5,
        "queue_and_other": 0.5,
    }
