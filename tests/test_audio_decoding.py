"""Decoding a job's input: the samples come out whole, and the signal is held once while it decodes."""

from __future__ import annotations

import io
import struct
import tracemalloc
import wave
from pathlib import Path

import numpy as np

from core.audio.decoding import SAMPLE_RATE, decode_audio, probe_audio
from core.inference import InferenceClient
from core.jobs.params import JobParams
from core.persistence import jobs as repository
from core.persistence.database import Database
from core.persistence.jobs import JobSource
from core.settings import load_settings
from core.storage.base import ObjectStore
from pipelines.job_state import JobState
from pipelines.stages import StageContext, prepare


def _pcm16(seconds: float) -> np.ndarray:
    return (10000 * np.sin(np.arange(int(seconds * SAMPLE_RATE)) / 10)).astype("<i2")


def _wav(pcm: np.ndarray) -> bytes:
    file = io.BytesIO()
    with wave.open(file, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.tobytes())
    return file.getvalue()


def test_a_wav_decodes_to_its_samples_holding_the_signal_once() -> None:
    pcm = _pcm16(60)
    data = _wav(pcm)
    tracemalloc.start()
    try:
        audio = decode_audio(io.BytesIO(data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(audio, pcm / 32768.0)
    assert audio.dtype == np.float32
    assert peak < 1.25 * audio.nbytes, (peak, audio.nbytes)  # frames joined at the end: 3x


def test_a_streamed_wav_that_declares_no_length_decodes_whole() -> None:
    pcm = _pcm16(5)
    data = bytearray(_wav(pcm))
    data[4:8] = data[40:44] = struct.pack("<I", 0xFFFFFFFF)  # RIFF and data sizes of a writer that did not know
    audio = decode_audio(io.BytesIO(bytes(data)))
    np.testing.assert_array_equal(audio, pcm / 32768.0)


def test_a_resampled_file_decodes_to_the_length_probing_counts() -> None:
    stereo_44k = np.repeat((10000 * np.sin(np.arange(44100 * 3) / 7)).astype("<i2")[:, None], 2, axis=1)
    file = io.BytesIO()
    with wave.open(file, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(stereo_44k.tobytes())
    audio = decode_audio(io.BytesIO(file.getvalue()))
    assert len(audio) == round(probe_audio(io.BytesIO(file.getvalue())).duration_s * SAMPLE_RATE)
    assert abs(len(audio) - 3 * SAMPLE_RATE) <= 16


async def test_the_prepare_stage_holds_none_of_the_signal_in_memory(store: ObjectStore, tmp_path: Path) -> None:
    """Neither the stored upload nor its decoded signal is held: the signal goes to a file the stages
    read a slice at a time (held as an array, 60 minutes kept 230 MB in the worker for the whole job)."""
    pcm = _pcm16(300)
    store.put_bytes("jobs/x/input.wav", _wav(pcm))
    database = Database.open(f"sqlite:///{tmp_path / 'tandem.db'}")
    inference = InferenceClient("127.0.0.1:1")  # prepare asks no model
    try:
        job = repository.create_job(
            database,
            job_id=repository.new_job_id(),
            source=JobSource.UPLOAD,
            params=JobParams(),
            input_key="jobs/x/input.wav",
        )
        context = StageContext(
            job=job, params=job.params, settings=load_settings(), database=database, store=store, inference=inference
        )
        state = JobState(job_id=job.id)
        tracemalloc.start()
        try:
            await prepare(context, state)
            held, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        signal_bytes = 4 * len(pcm)  # 19 MB
        assert peak < 0.05 * signal_bytes, (peak, signal_bytes)  # held as an array: 1.0x, with the upload 1.5x
        assert held < 0.01 * signal_bytes, (held, signal_bytes)
        assert state.duration_s == 300
        assert len(state.audio) == len(pcm)
        np.testing.assert_array_equal(np.asarray(state.audio), pcm / 32768.0)
        np.testing.assert_array_equal(state.audio[123_456:160_000], pcm[123_456:160_000] / 32768.0)
    finally:
        state.close()
        await inference.close()
        database.close()
