"""A decoded signal kept in a file and read a slice at a time: a job's audio outside the worker's memory.

Every stage of a job reads the 16 kHz mono float32 signal in pieces (VAD requests, ASR chunks,
diarization windows, overlap chunks, emotion segments), never all of it at once. Held as an array,
60 minutes kept 230 MB resident in the worker for the whole job; in a file only the slices being
read are, and the file's pages sit in the kernel's page cache, which is not the process's memory
and is dropped under pressure. (An ``np.memmap`` would not do: its pages count as the process's
resident memory once touched, so reading the whole signal once brings all of it back.)
"""

from __future__ import annotations

import os
from typing import BinaryIO, Protocol

import numpy as np

_ITEM_BYTES = np.dtype(np.float32).itemsize


class Signal(Protocol):
    """What the stages need of a signal: its length in samples and a contiguous slice as an array
    (an ``np.ndarray`` is one, and so is a :class:`SignalFile`)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice, /) -> np.ndarray: ...


class SignalFile:
    """A read-only float32 signal in an open file; ``signal[a:b]`` reads those samples into a new array.

    It owns the file (an unnamed temporary file: its space is freed when it is closed or the process
    dies). Reads go through ``os.preadv`` at an offset, so concurrent stages never share a position.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, file: BinaryIO, samples: int) -> None:
        """``file`` holds ``samples`` float32 samples in native byte order from its start."""
        file.flush()
        self._file = file
        self._samples = samples

    def __len__(self) -> int:
        return self._samples

    @property
    def shape(self) -> tuple[int]:
        return (self._samples,)

    def __getitem__(self, index: slice, /) -> np.ndarray:
        if not isinstance(index, slice):
            raise TypeError(f"a SignalFile is read by slices, not {type(index).__name__}")
        start, stop, step = index.indices(self._samples)
        if step != 1:
            raise ValueError("a SignalFile is read by contiguous slices")
        piece = np.empty(max(0, stop - start), dtype=np.float32)
        target = memoryview(piece).cast("B")
        done = 0
        while done < len(target):
            read = os.preadv(self._file.fileno(), [target[done:]], start * _ITEM_BYTES + done)
            if read == 0:
                raise EOFError(f"the signal file ends before sample {start + done // _ITEM_BYTES}")
            done += read
        return piece

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        """The whole signal (as ``np.asarray`` asks: for tests and small clips, not for a job's stages)."""
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed
