"""The object store interface: keyed blobs plus appendable objects with a reserved head."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import BinaryIO

READ_CHUNK_BYTES = 256 * 1024


class ObjectNotFoundError(LookupError):
    """No object is stored under this key."""


class ObjectAppender(ABC):
    """An object written front to back whose first ``head_size`` bytes are written last.

    ``append`` adds data after the reserved head; ``finish(head)`` fills the head and makes
    the object complete; ``abort`` discards it. Memory stays bounded whatever is appended.
    """

    def __init__(self, key: str, head_size: int) -> None:
        self.key = key
        self.head_size = head_size

    @abstractmethod
    def append(self, data: bytes) -> None:
        """Add ``data`` after everything appended so far."""

    @abstractmethod
    def checkpoint(self, head: bytes) -> None:
        """Make what was appended so far readable under ``head`` where the store allows it.

        The local store rewrites the head in place, so a killed process leaves a usable object; S3
        keeps a checkpoint at most every few seconds that :meth:`ObjectStore.recover` completes.
        """

    @abstractmethod
    def finish(self, head: bytes) -> None:
        """Write ``head`` (exactly ``head_size`` bytes) and complete the object."""

    @abstractmethod
    def abort(self) -> None:
        """Discard the object; safe to call after a failure, not after :meth:`finish`."""

    def _check_head(self, head: bytes) -> None:
        if len(head) != self.head_size:
            raise ValueError(f"head is {len(head)} bytes, {self.head_size} were reserved")


class ObjectStore(ABC):
    """Blobs under ``/``-separated keys (``sessions/{id}/audio.wav``), the same on every store."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any object there."""

    @abstractmethod
    def put_file(self, key: str, file: BinaryIO) -> None:
        """Store the readable binary ``file`` (from its current position) under ``key``, streamed."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The whole object; raises :class:`ObjectNotFoundError`."""

    @abstractmethod
    def open_read(self, key: str) -> Iterator[bytes]:
        """The object as chunks, for streaming; raises :class:`ObjectNotFoundError` at once."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The object's size in bytes; raises :class:`ObjectNotFoundError`."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under the folder ``prefix`` (ending in ``/``); return how many."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """Where the object lives: ``file:///...`` or ``s3://bucket/key``."""

    @abstractmethod
    def open_appender(self, key: str, head_size: int) -> ObjectAppender:
        """Start writing ``key`` incrementally, ``head_size`` bytes reserved at the front."""

    def recover(self, key: str) -> bool:
        """Make readable what a process killed while appending to ``key`` left behind; whether ``key``
        exists now. The local folder's object is readable as it is."""
        return self.exists(key)

    @abstractmethod
    def ping(self) -> None:
        """Raise unless the store is reachable and usable."""


def check_key(key: str) -> str:
    """``key`` if it is a relative ``/``-separated key with no empty, ``.`` or ``..`` parts."""
    parts = key.split("/")
    if not key or any(part in ("", ".", "..") for part in parts) or "\\" in key or "\0" in key:
        raise ValueError(f"invalid object key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` if it names a folder: a valid key followed by ``/``."""
    if not prefix.endswith("/"):
        raise ValueError(f"prefix {prefix!r} must end with '/'")
    check_key(prefix[:-1])
    return prefix
