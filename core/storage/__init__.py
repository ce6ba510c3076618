"""Object storage: one interface over a local folder and S3, with SPEC's key layout."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from core.storage.base import ObjectAppender, ObjectNotFoundError, ObjectStore
from core.storage.local import LocalObjectStore
from core.storage.s3 import S3ObjectStore

__all__ = [
    "LocalObjectStore",
    "ObjectAppender",
    "ObjectNotFoundError",
    "ObjectStore",
    "S3ObjectStore",
    "open_store",
]


def open_store(target: Settings | str, endpoint_url: str | None = None) -> ObjectStore:
    """The store for settings or a storage URL: ``s3://bucket[/prefix]`` or a local folder.

    With :class:`Settings`, ``endpoint_url`` defaults to ``settings.s3_endpoint_url``. An S3
    bucket is created when missing.
    """
    if isinstance(target, Settings):
        url = target.resolved_storage_url
        endpoint_url = endpoint_url or target.s3_endpoint_url or None
    else:
        url = target
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        store = S3ObjectStore(bucket, prefix, endpoint_url)
        store.create_bucket_if_missing()
        return store
    return LocalObjectStore(Path(url))
