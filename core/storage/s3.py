"""Object store on an S3 bucket (AWS, MinIO, moto) through boto3."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from tenacity import retry, stop_after_attempt, wait_exponential

from core.storage.base import (
    READ_CHUNK_BYTES,
    ObjectAppender,
    ObjectNotFoundError,
    ObjectStore,
    check_key,
    check_prefix,
)

PART_BYTES = 5 * 1024 * 1024
"""S3's smallest allowed size for every multipart part but the last."""

CHECKPOINT_EVERY_S = 10.0
"""How often an appender's :meth:`~S3ObjectAppender.checkpoint` writes to the bucket (a killed
recording loses at most this much, plus the data not yet in a part once it is past one part)."""

PART_UPLOAD_ATTEMPTS = 4
PART_TIMEOUT_S = 20.0
"""Longest wait for an answer to one multipart call."""
"""Tries of each multipart call of a recording, backing off 0.5, 1, 2 s between them."""

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})

_retry_part_call = retry(
    stop=stop_after_attempt(PART_UPLOAD_ATTEMPTS), wait=wait_exponential(multiplier=0.5, max=4.0), reraise=True
)


class S3ObjectStore(ObjectStore):
    """Objects under ``s3://bucket/prefix/``; ``endpoint_url`` for MinIO or moto."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        *,
        checkpoint_every_s: float = CHECKPOINT_EVERY_S,
    ) -> None:
        self.bucket = bucket
        self.checkpoint_every_s = checkpoint_every_s
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url or None)
        self.part_client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            config=Config(connect_timeout=5, read_timeout=PART_TIMEOUT_S, retries={"total_max_attempts": 1}),
        )
        """For the multipart calls of appenders: retried by :data:`_retry_part_call`, not by botocore, and
        with a shorter read timeout, so a stalled store fails a recording in minutes, not hours."""

    def create_bucket_if_missing(self) -> None:
        """Create the bucket unless it exists (fresh MinIO, moto)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
        region = self.client.meta.region_name
        options: dict[str, Any] = {}
        if region not in (None, "us-east-1"):
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(Bucket=self.bucket, **options)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
                raise

    def object_key(self, key: str) -> str:
        """The S3 key that holds ``key``."""
        return self.prefix + check_key(key)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data)

    def put_file(self, key: str, file: BinaryIO) -> None:
        self.client.upload_fileobj(file, self.bucket, self.object_key(key))

    def get_bytes(self, key: str) -> bytes:
        body = self._get_body(key)
        with body:
            return body.read()

    def open_read(self, key: str) -> Iterator[bytes]:
        return _read_chunks(self._get_body(key))

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except ObjectNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _is_not_found(exc):
                raise ObjectNotFoundError(key) from exc
            raise
        return int(head["ContentLength"])

    def delete_prefix(self, prefix: str) -> int:
        """Delete the objects under ``prefix`` and abort unfinished uploads there."""
        full_prefix = self.prefix + check_prefix(prefix)
        deleted = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full_prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        for page in self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=full_prefix
        ):
            for upload in page.get("Uploads", []):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        return deleted

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def open_appender(self, key: str, head_size: int) -> S3ObjectAppender:
        return S3ObjectAppender(self, key, head_size)

    def recover(self, key: str) -> bool:
        """Complete the multipart upload a killed appender left under ``key`` from the parts it holds
        (part 1, re-uploaded at each checkpoint, carries the head); a short recording's checkpoint is
        already a whole object."""
        object_key = self.object_key(key)
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=object_key).get("Uploads", [])
        for upload in (u for u in uploads if u["Key"] == object_key):
            parts = self.client.list_parts(Bucket=self.bucket, Key=object_key, UploadId=upload["UploadId"])
            listed = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts.get("Parts", [])]
            if listed and listed[0]["PartNumber"] == 1:
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=object_key, UploadId=upload["UploadId"], MultipartUpload={"Parts": listed}
                )
            else:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=object_key, UploadId=upload["UploadId"])
        return self.exists(key)

    def ping(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    def _get_body(self, key: str) -> Any:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]
        except ClientError as exc:
            if _is_not_found(exc):
                raise ObjectNotFoundError(key) from exc
            raise


class S3ObjectAppender(ObjectAppender):
    """A multipart upload whose part 1 (the head and the first data) is uploaded last.

    Part 1 stays in memory until :meth:`finish`; later data fills parts 2..N, each uploaded
    once it reaches :data:`PART_BYTES`, so at most about two parts are held. An object that
    never fills a second part is written by one ``put_object`` at :meth:`finish`. So that a killed
    process leaves something behind, :meth:`checkpoint` (at most every ``checkpoint_every_s``) puts
    a short object whole under its current head, and once the upload has started re-uploads part 1
    under it; :meth:`S3ObjectStore.recover` completes such an upload.
    Appends that fill a part upload it, so call them off the event loop. Each multipart call is
    tried :data:`PART_UPLOAD_ATTEMPTS` times; a part leaves memory only once it is uploaded, so
    when the last try fails nothing is silently dropped: the error is raised and the caller aborts.
    """

    def __init__(self, store: S3ObjectStore, key: str, head_size: int) -> None:
        super().__init__(key, head_size)
        self._store = store
        self._object_key = store.object_key(key)
        self._first_part = bytearray(head_size)
        self._pending = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._next_part = 2
        self._checkpointed_at = time.monotonic()
        self._checkpoint_put = False

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        room = self.head_size + PART_BYTES - len(self._first_part)
        if room > 0:
            self._first_part += view[:room]
            view = view[room:]
        if view:
            self._pending += view
            if len(self._pending) >= PART_BYTES:
                self._upload_pending()

    def checkpoint(self, head: bytes) -> None:
        self._check_head(head)
        if time.monotonic() - self._checkpointed_at < self._store.checkpoint_every_s:
            return
        self._first_part[: self.head_size] = head
        if self._upload_id is None and len(self._first_part) == self.head_size + PART_BYTES:
            self._upload_id = self._create_upload()  # part 1 is full: checkpoints upload it from now on
        if self._upload_id is None:
            body = bytes(self._first_part)
            self._store.part_client.put_object(Bucket=self._store.bucket, Key=self._object_key, Body=body)
            self._checkpoint_put = True
        else:
            self._upload_part(1, self._first_part)
        self._checkpointed_at = time.monotonic()

    def finish(self, head: bytes) -> None:
        self._check_head(head)
        self._first_part[: self.head_size] = head
        client, bucket = self._store.client, self._store.bucket
        if self._upload_id is None:
            self._first_part += self._pending
            self._pending = bytearray()
            client.put_object(Bucket=bucket, Key=self._object_key, Body=self._first_part)
            self._first_part = bytearray()
            return
        try:
            if self._pending:
                self._upload_pending()
            self._upload_part(1, self._first_part)
            self._first_part = bytearray()
            parts = sorted(self._parts, key=lambda part: part["PartNumber"])
            client.complete_multipart_upload(
                Bucket=bucket, Key=self._object_key, UploadId=self._upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.abort()
            raise
        self._upload_id = None

    def abort(self) -> None:
        self._first_part = bytearray()
        self._pending = bytearray()
        if self._checkpoint_put:
            self._store.client.delete_object(Bucket=self._store.bucket, Key=self._object_key)
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            self._store.client.abort_multipart_upload(
                Bucket=self._store.bucket, Key=self._object_key, UploadId=upload_id
            )

    def _upload_pending(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._create_upload()
        self._upload_part(self._next_part, self._pending)
        self._next_part += 1
        self._pending = bytearray()

    @_retry_part_call
    def _create_upload(self) -> str:
        response = self._store.part_client.create_multipart_upload(Bucket=self._store.bucket, Key=self._object_key)
        return response["UploadId"]

    @_retry_part_call
    def _upload_part(self, number: int, data: bytearray) -> None:
        response = self._store.part_client.upload_part(
            Bucket=self._store.bucket,
            Key=self._object_key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data,
        )
        self._parts = [
            p for p in self._parts if p["PartNumber"] != number
        ]  # a re-uploaded part 1 replaces its checkpoint
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})


def _read_chunks(body: Any) -> Iterator[bytes]:
    with body:
        yield from body.iter_chunks(READ_CHUNK_BYTES)


def _is_not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES
