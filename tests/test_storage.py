"""Object stores: the local folder and S3 (a real moto_server over HTTP), same keys on both."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import load_settings
from core.storage import LocalObjectStore, ObjectNotFoundError, ObjectStore, S3ObjectStore, open_store
from core.storage.keys import (
    job_input_key,
    job_transcript_key,
    session_audio_key,
    session_prefix,
    session_transcript_key,
)
from core.storage.s3 import PART_BYTES

MiB = 1024 * 1024


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _unfinished_uploads(store: ObjectStore) -> list[str]:
    assert isinstance(store, S3ObjectStore)
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return [upload["Key"] for upload in uploads]


def test_keys_follow_spec_layout() -> None:
    assert session_prefix("sess_1") == "sessions/sess_1/"
    assert session_audio_key("sess_1") == "sessions/sess_1/audio.wav"
    assert session_transcript_key("sess_1") == "sessions/sess_1/transcript.json"
    assert job_input_key("job_1", "mp3") == "jobs/job_1/input.mp3"
    assert job_transcript_key("job_1") == "jobs/job_1/transcript.json"


def test_put_get_exists_size_and_streaming_read(store: ObjectStore) -> None:
    store.ping()
    key = session_transcript_key("sess_a")
    data = os.urandom(600_000)
    assert not store.exists(key)
    store.put_bytes(key, data)
    assert store.exists(key)
    assert store.size(key) == len(data)
    assert store.get_bytes(key) == data
    chunks = list(store.open_read(key))
    assert len(chunks) > 1 and b"".join(chunks) == data
    store.put_bytes(key, b"{}")
    assert store.get_bytes(key) == b"{}"


def test_missing_objects_raise_not_found(store: ObjectStore) -> None:
    key = session_audio_key("sess_missing")
    for read in (store.get_bytes, store.size, store.open_read):
        with pytest.raises(ObjectNotFoundError):
            read(key)


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "..", "a/./b", "a\\b"])
def test_invalid_keys_are_rejected(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put_bytes(key, b"x")


def test_same_keys_and_uris_on_both_stores(tmp_path: Path, s3_server: str) -> None:
    key = session_audio_key("sess_k")
    local = LocalObjectStore(tmp_path / "objects")
    local.put_bytes(key, b"local")
    assert (tmp_path / "objects" / "sessions" / "sess_k" / "audio.wav").read_bytes() == b"local"
    assert local.uri(key) == (tmp_path / "objects" / "sessions/sess_k/audio.wav").resolve().as_uri()
    assert local.uri(key).startswith("file:///")

    bucket = f"tandem-{uuid.uuid4().hex[:12]}"
    remote = open_store(f"s3://{bucket}/some/prefix/", s3_server)
    assert isinstance(remote, S3ObjectStore)
    remote.put_bytes(key, b"remote")
    listed = remote.client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [item["Key"] for item in listed] == ["some/prefix/sessions/sess_k/audio.wav"]
    assert remote.uri(key) == f"s3://{bucket}/some/prefix/sessions/sess_k/audio.wav"

    bare = open_store(f"s3://{bucket}", s3_server)
    assert bare.uri(key) == f"s3://{bucket}/sessions/sess_k/audio.wav"


def test_open_store_from_settings(tmp_path: Path, s3_server: str) -> None:
    local = open_store(load_settings({}, data_dir=tmp_path))
    assert isinstance(local, LocalObjectStore) and local.root == (tmp_path / "objects").resolve()
    bucket = f"tandem-{uuid.uuid4().hex[:12]}"
    environ = {"TANDEM_STORAGE_URL": f"s3://{bucket}", "TANDEM_S3_ENDPOINT_URL": s3_server}
    remote = open_store(load_settings(environ))
    assert isinstance(remote, S3ObjectStore)
    remote.ping()  # the bucket was created


def test_appender_under_one_part(store: ObjectStore) -> None:
    key = session_audio_key("sess_small")
    data = os.urandom(3 * MiB + 123)
    appender = store.open_appender(key, head_size=44)
    for chunk in _chunks(data, 3200):
        appender.append(chunk)
    if isinstance(store, S3ObjectStore):
        assert not store.exists(key) and _unfinished_uploads(store) == []
    with pytest.raises(ValueError):
        appender.finish(b"short")
    appender.finish(b"H" * 44)
    assert store.get_bytes(key) == b"H" * 44 + data


@pytest.mark.parametrize("chunk_bytes", [32_000, 12 * MiB])
def test_appender_over_several_parts(store: ObjectStore, chunk_bytes: int) -> None:
    key = session_audio_key("sess_big")
    data = os.urandom(2 * PART_BYTES + 3 * MiB + 17)
    appender = store.open_appender(key, head_size=44)
    for chunk in _chunks(data, chunk_bytes):
        appender.append(chunk)
    if isinstance(store, S3ObjectStore):
        assert not store.exists(key)
        assert _unfinished_uploads(store) == [store.object_key(key)]
    appender.finish(b"\x01" * 44)
    stored = store.get_bytes(key)
    assert len(stored) == 44 + len(data)
    assert hashlib.sha256(stored).digest() == hashlib.sha256(b"\x01" * 44 + data).digest()
    if isinstance(store, S3ObjectStore):
        assert _unfinished_uploads(store) == []
        etag = store.client.head_object(Bucket=store.bucket, Key=store.object_key(key))["ETag"]
        part_count = int(etag.strip('"').rsplit("-", 1)[1])
        assert part_count >= 2  # a real multipart object: part 1 (head) plus parts 2..N


@pytest.mark.parametrize("size", [1000, 2 * PART_BYTES + 5])
def test_appender_abort_leaves_nothing(store: ObjectStore, size: int) -> None:
    key = session_audio_key("sess_aborted")
    appender = store.open_appender(key, head_size=8)
    appender.append(os.urandom(size))
    appender.abort()
    assert not store.exists(key)
    if isinstance(store, S3ObjectStore):
        assert _unfinished_uploads(store) == []


def test_local_checkpoint_exposes_data_before_finish(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    key = session_audio_key("sess_cp")
    appender = store.open_appender(key, head_size=4)
    appender.append(b"abc")
    appender.checkpoint(b"0003")
    assert store.get_bytes(key) == b"0003abc"
    appender.append(b"def")
    appender.finish(b"0006")
    assert store.get_bytes(key) == b"0006abcdef"


@pytest.mark.parametrize("size", [3 * MiB, 2 * PART_BYTES + 3 * MiB])
def test_a_killed_s3_appender_is_recovered_up_to_its_checkpoint(s3_server: str, size: int) -> None:
    """A process killed while recording (its appender dropped, never finished) leaves its last
    checkpoint: a short object whole, a long one as an upload ``recover`` completes."""
    store = S3ObjectStore(f"tandem-{uuid.uuid4().hex[:12]}", endpoint_url=s3_server, checkpoint_every_s=0.0)
    store.create_bucket_if_missing()
    key = session_audio_key("sess_killed")
    data = os.urandom(size)
    appender = store.open_appender(key, head_size=4)
    for chunk in _chunks(data, MiB):
        appender.append(chunk)
    appender.checkpoint(b"HEAD")
    appender.append(b"after the checkpoint, lost")
    del appender  # SIGKILL: no finish, no abort

    assert store.recover(key)
    stored = store.get_bytes(key)
    kept = len(stored) - 4
    assert stored[:4] == b"HEAD" and stored[4:] == data[:kept]
    assert kept >= size - PART_BYTES  # at most the part not yet uploaded is lost
    assert _unfinished_uploads(store) == []
    assert not store.recover(session_audio_key("sess_never_recorded"))


def test_delete_prefix_removes_only_that_folder(store: ObjectStore) -> None:
    for key in (
        session_audio_key("sess_x"),
        session_transcript_key("sess_x"),
        "sessions/sess_x/extra/artifact.json",
        session_audio_key("sess_x2"),
        session_audio_key("sess_y"),
    ):
        store.put_bytes(key, b"data")
    dangling = store.open_appender("sessions/sess_x/partial.wav", head_size=4)
    dangling.append(os.urandom(2 * PART_BYTES + 1))  # starts a multipart upload on S3

    # A local appender's file is already an object; an unfinished S3 upload is not.
    expected = 3 if isinstance(store, S3ObjectStore) else 4
    assert store.delete_prefix(session_prefix("sess_x")) == expected
    assert not store.exists(session_audio_key("sess_x"))
    assert not store.exists("sessions/sess_x/extra/artifact.json")
    assert store.exists(session_audio_key("sess_x2")) and store.exists(session_audio_key("sess_y"))
    assert store.delete_prefix(session_prefix("sess_x")) == 0
    with pytest.raises(ValueError):
        store.delete_prefix("sessions/sess_y")
    if isinstance(store, S3ObjectStore):
        assert _unfinished_uploads(store) == []
    else:
        dangling.abort()
