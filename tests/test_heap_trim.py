"""The live ASR model's heap trimming gives freed C heap pages back (glibc), in a child process."""

from __future__ import annotations

import subprocess
import sys

CHILD = r"""
import ctypes, ctypes.util, psutil
from triton_models.heap_trim import HeapTrimmer

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
blocks = [libc.malloc(100_000) for _ in range(3000)]  # below glibc's mmap threshold: from the heap
for block in blocks:
    ctypes.memset(block, 1, 100_000)
for block in blocks[:-1]:  # the last one pins the heap's top, as a live buffer does
    libc.free(block)
rss = lambda: psutil.Process().memory_info().rss / 2**20
before = rss()
HeapTrimmer(interval_s=0.0).maybe_trim()
print(round(before - rss()))
"""


def test_trimming_returns_freed_heap_pages() -> None:
    freed = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    assert int(freed.stdout) > 200, freed.stdout  # 300 MB were freed inside the heap
