"""Object store on a local folder: each key is a file under the root."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from core.storage.base import (
    READ_CHUNK_BYTES,
    ObjectAppender,
    ObjectNotFoundError,
    ObjectStore,
    check_key,
    check_prefix,
)


class LocalObjectStore(ObjectStore):
    """Objects as files under ``root`` (created if missing)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file that holds ``key``."""
        return self.root / check_key(key)

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)

    def put_file(self, key: str, file: BinaryIO) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        with partial.open("wb") as target:
            shutil.copyfileobj(file, target, READ_CHUNK_BYTES)
        os.replace(partial, path)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFoundError(key) from exc

    def open_read(self, key: str) -> Iterator[bytes]:
        try:
            file = self.path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFoundError(key) from exc
        return _read_chunks(file)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        path = self.path(key)
        if not path.is_file():
            raise ObjectNotFoundError(key)
        return path.stat().st_size

    def delete_prefix(self, prefix: str) -> int:
        folder = self.root / check_prefix(prefix)
        if not folder.is_dir():
            return 0
        count = sum(1 for path in folder.rglob("*") if path.is_file())
        shutil.rmtree(folder)
        return count

    def uri(self, key: str) -> str:
        return self.path(key).as_uri()

    def open_appender(self, key: str, head_size: int) -> LocalObjectAppender:
        return LocalObjectAppender(key, head_size, self.path(key))

    def ping(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise OSError(f"object store folder {self.root} is not a writable folder")


class LocalObjectAppender(ObjectAppender):
    """Writes the file in place: a zeroed head, then data; the head is rewritten on checkpoints."""

    def __init__(self, key: str, head_size: int, path: Path) -> None:
        super().__init__(key, head_size)
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("wb")
        self._file.write(bytes(head_size))

    def append(self, data: bytes) -> None:
        self._file.write(data)

    def checkpoint(self, head: bytes) -> None:
        self._check_head(head)
        self._write_head(head)

    def finish(self, head: bytes) -> None:
        self._check_head(head)
        self._write_head(head)
        os.fsync(self._file.fileno())
        self._file.close()

    def abort(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)

    def _write_head(self, head: bytes) -> None:
        # Seeking flushes the appended data first, so the file on disk never has a head that
        # describes more data than it holds.
        self._file.seek(0)
        self._file.write(head)
        self._file.seek(0, os.SEEK_END)
        self._file.flush()


def _read_chunks(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(READ_CHUNK_BYTES):
            yield chunk
