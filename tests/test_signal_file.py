"""A job's signal in a file: slices read from it are the slices of the array it was written from."""

from __future__ import annotations

import asyncio
import tempfile
import threading

import numpy as np
import pytest

from core.audio.signal_file import SignalFile
from core.inference import InferenceClient
from pipelines.job_state import SAMPLE_RATE, SpeechRegion
from pipelines.transcribe import transcribe_audio


def _signal_file(samples: np.ndarray) -> SignalFile:
    file = tempfile.TemporaryFile()
    file.write(samples.astype(np.float32).tobytes())
    return SignalFile(file, len(samples))


def test_slices_read_as_the_arrays_slices() -> None:
    samples = np.random.default_rng(0).normal(size=10_000).astype(np.float32)
    signal = _signal_file(samples)
    try:
        assert len(signal) == len(samples) and signal.shape == samples.shape
        for index in [
            slice(None), slice(0, 1), slice(17, 4_113), slice(9_990, 20_000), slice(-300, None), slice(-50, -10),
            slice(5_000, 5_000), slice(6_000, 10), slice(20_000, 30_000), slice(None, -9_999),
        ]:  # fmt: skip
            piece = signal[index]
            np.testing.assert_array_equal(piece, samples[index])
            assert piece.dtype == np.float32 and piece.flags.writeable
        np.testing.assert_array_equal(np.asarray(signal), samples)
        with pytest.raises(ValueError):
            signal[::2]
        with pytest.raises(TypeError):
            signal[3]
    finally:
        signal.close()
    assert signal.closed


def test_stages_read_it_at_once_without_sharing_a_position() -> None:
    samples = np.arange(200_000, dtype=np.float32)
    signal = _signal_file(samples)
    failures: list[str] = []

    def read(offset: int) -> None:
        for start in range(offset, 190_000, 7_919):
            if not np.array_equal(signal[start : start + 5_000], samples[start : start + 5_000]):
                failures.append(f"{start}")

    threads = [threading.Thread(target=read, args=(offset,)) for offset in range(0, 400, 50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    signal.close()
    assert not failures


class _CountedReads(SignalFile):
    """Counts the slices read and not yet answered by the (fake) model server."""

    def __init__(self, samples: np.ndarray) -> None:
        file = tempfile.TemporaryFile()
        file.write(samples.tobytes())
        super().__init__(file, len(samples))
        self.unanswered = 0
        self.most_unanswered = 0

    def __getitem__(self, index: slice, /) -> np.ndarray:
        self.unanswered += 1
        self.most_unanswered = max(self.most_unanswered, self.unanswered)
        return super().__getitem__(index)


class _Result:
    def as_numpy(self, name: str) -> np.ndarray:
        return np.array([[b'{"language": "en", "segments": []}']], dtype=np.object_)


async def test_transcription_reads_a_chunk_only_once_its_request_may_go() -> None:
    """A 10-minute job's ~20 chunks are not read at once (that held the speech's samples whole):
    no more are read than the job may have at the model server."""
    signal = _CountedReads(np.zeros(600 * SAMPLE_RATE, dtype=np.float32))
    inference = InferenceClient("127.0.0.1:1", batch_requests_in_flight=2)

    async def answer(model: str, inputs: list, **kwargs: object) -> _Result:
        await asyncio.sleep(0.01)
        signal.unanswered -= 1
        return _Result()

    inference._infer = answer  # type: ignore[method-assign]  # noqa: SLF001
    regions = [SpeechRegion(start, start + 25.0) for start in range(0, 600, 30)]
    try:
        await transcribe_audio(signal, inference, language="en", speech_regions=regions)
    finally:
        await inference.close()
        signal.close()
    assert signal.most_unanswered <= 2, signal.most_unanswered
