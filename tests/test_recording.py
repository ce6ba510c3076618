"""AudioRecorder on both object stores: exact PCM16 WAVs, checkpoints, bounded memory."""

from __future__ import annotations

import gc
import hashlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc
import uuid
import wave
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile

from core.audio.recording import WAV_HEADER_BYTES, AudioRecorder
from core.storage import LocalObjectStore, ObjectStore, S3ObjectStore, open_store
from core.storage.keys import session_audio_key
from core.storage.s3 import PART_BYTES

MB = 1_000_000


def _wav_format(data: bytes) -> tuple[int, int, int, int]:
    """(channels, sample width, frame rate, frames) as the WAV header states them."""
    with wave.open(io.BytesIO(data), "rb") as reader:
        return reader.getnchannels(), reader.getsampwidth(), reader.getframerate(), reader.getnframes()


def test_int16_input_is_recorded_byte_for_byte(store: ObjectStore) -> None:
    rng = np.random.default_rng(1)
    sizes = [160, 1600, 3200, 7] * 12
    chunks = [rng.integers(-32768, 32767, size, dtype=np.int16, endpoint=True) for size in sizes]
    recorder = AudioRecorder.start(store, "sess_pcm", 16000)
    for chunk in chunks:
        recorder.write_pcm16(chunk)
    samples = np.concatenate(chunks)
    assert recorder.frames_written == len(samples)

    uri = recorder.finish()
    assert uri == store.uri(session_audio_key("sess_pcm"))
    stored = store.get_bytes(session_audio_key("sess_pcm"))
    assert stored[WAV_HEADER_BYTES:] == samples.astype("<i2").tobytes()
    assert _wav_format(stored) == (1, 2, 16000, len(samples))
    decoded, rate = soundfile.read(io.BytesIO(stored), dtype="int16")
    assert rate == 16000
    np.testing.assert_array_equal(decoded, samples)


def test_float_input_is_recorded_as_pcm16(store: ObjectStore) -> None:
    rng = np.random.default_rng(2)
    samples = rng.uniform(-1.3, 1.3, 48000 * 2 + 480).astype(np.float32)
    samples[:4] = [1.0, -1.0, 0.5, -0.25]
    recorder = AudioRecorder.start(store, "sess_float", 48000)
    for start in range(0, len(samples), 4800):
        recorder.write_float(samples[start : start + 4800])
    recorder.finish()

    stored = store.get_bytes(session_audio_key("sess_float"))
    expected = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
    assert expected[:4].tolist() == [32767, -32767, 16384, -8192]
    assert stored[WAV_HEADER_BYTES:] == expected.astype("<i2").tobytes()
    assert _wav_format(stored) == (1, 2, 48000, len(samples))
    info = soundfile.info(io.BytesIO(stored))
    assert (info.format, info.subtype, info.channels, info.samplerate) == ("WAV", "PCM_16", 1, 48000)


def test_wrong_sample_types_are_rejected(store: ObjectStore) -> None:
    recorder = AudioRecorder.start(store, "sess_types", 16000)
    with pytest.raises(ValueError):
        recorder.write_pcm16(np.zeros(10, dtype=np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        recorder.write_float(np.zeros(10, dtype=np.int16))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        recorder.write_pcm16(np.zeros((2, 10), dtype=np.int16))
    recorder.abort()
    assert not store.exists(session_audio_key("sess_types"))
    with pytest.raises(RuntimeError):
        recorder.write_pcm16(np.zeros(10, dtype=np.int16))


def test_local_recording_is_playable_before_finish(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    samples = (np.arange(16000 * 5 // 2) % 2000 - 1000).astype(np.int16)
    recorder = AudioRecorder.start(store, "sess_live", 16000)
    for start in range(0, len(samples), 1600):
        recorder.write_pcm16(samples[start : start + 1600])

    # 2.5 s written; the header was last checkpointed at 2.0 s.
    decoded, rate = soundfile.read(store.path(session_audio_key("sess_live")), dtype="int16")
    assert rate == 16000
    np.testing.assert_array_equal(decoded, samples[:32000])

    recorder.finish()
    decoded, _ = soundfile.read(store.path(session_audio_key("sess_live")), dtype="int16")
    np.testing.assert_array_equal(decoded, samples)


def test_killed_process_leaves_playable_wav(tmp_path: Path) -> None:
    """A recorder process killed with SIGKILL mid-session leaves a WAV up to its last checkpoint."""
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        import numpy as np
        from core.audio.recording import AudioRecorder
        from core.storage import LocalObjectStore

        recorder = AudioRecorder.start(LocalObjectStore(Path(sys.argv[1])), "sess_killed", 16000)
        samples = (np.arange(16000 * 7 // 2) % 3000 - 1500).astype(np.int16)
        for start in range(0, len(samples), 1600):
            recorder.write_pcm16(samples[start : start + 1600])
        print("written", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "written"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL

    decoded, rate = soundfile.read(tmp_path / "sessions/sess_killed/audio.wav", dtype="int16")
    expected = (np.arange(48000) % 3000 - 1500).astype(np.int16)  # 3.5 s written, checkpoint at 3.0 s
    assert rate == 16000
    np.testing.assert_array_equal(decoded, expected)


def _s3_store(endpoint: str) -> S3ObjectStore:
    store = open_store(f"s3://tandem-{uuid.uuid4().hex[:12]}", endpoint)
    assert isinstance(store, S3ObjectStore)
    # Warm up: load botocore's multipart operations and connection pool before measuring.
    warmup = AudioRecorder.start(store, "sess_warmup", 16000)
    warmup.write_pcm16(np.zeros((2 * PART_BYTES + 1) // 2 + 1, dtype=np.int16))
    warmup.finish()
    gc.collect()
    return store


def test_recording_to_s3_keeps_rss_bounded(s3_server: str) -> None:
    """Recording 10 minutes of 16 kHz audio (19.2 MB of PCM) to S3 in 100 ms chunks grows RSS by < 40 MB.

    The recorder holds at most part 1 and one pending part (about 2 x 5 MiB); the audio is
    hashed as it is produced and checked against the stored object afterwards.
    """
    store = _s3_store(s3_server)
    process = psutil.Process()
    baseline_rss = process.memory_info().rss
    peak_rss = baseline_rss
    digest = hashlib.sha256()
    rng = np.random.default_rng(3)
    recorder = AudioRecorder.start(store, "sess_long", 16000)
    for index in range(10 * 60 * 10):
        chunk = rng.integers(-32768, 32767, 1600, dtype=np.int16)
        recorder.write_pcm16(chunk)
        digest.update(chunk.tobytes())
        if index % 100 == 0:
            peak_rss = max(peak_rss, process.memory_info().rss)
    recorder.finish()
    peak_rss = max(peak_rss, process.memory_info().rss)

    growth_mb = (peak_rss - baseline_rss) / MB
    print(f"RSS growth while recording 10 min of 16 kHz audio to S3: {growth_mb:.1f} MB")
    assert growth_mb < 40
    key = session_audio_key("sess_long")
    assert store.size(key) == WAV_HEADER_BYTES + 10 * 60 * 16000 * 2
    stored = hashlib.sha256()
    for index, chunk in enumerate(store.open_read(key)):
        stored.update(chunk[WAV_HEADER_BYTES:] if index == 0 else chunk)
    assert stored.digest() == digest.digest()


def test_recording_to_s3_allocates_less_than_its_audio(s3_server: str) -> None:
    """Python allocations peak below 25 MiB while 30 minutes (57.6 MB) of 16 kHz audio is recorded to S3."""
    store = _s3_store(s3_server)
    recorder = AudioRecorder.start(store, "sess_longer", 16000)
    second = np.arange(16000, dtype=np.int16)
    tracemalloc.start()
    try:
        for _ in range(30 * 60):
            recorder.write_pcm16(second)
        recorder.finish()
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"tracemalloc peak while recording 30 min to S3: {peak_bytes / 2**20:.1f} MiB")
    assert peak_bytes < 25 * 2**20
    assert store.size(session_audio_key("sess_longer")) == WAV_HEADER_BYTES + 30 * 60 * 16000 * 2
