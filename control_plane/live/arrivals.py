"""When each stretch of a live session's audio arrived: latencies are measured from there."""

from __future__ import annotations

import time
from collections import deque


class ArrivalClock:
    """Arrival times (``time.monotonic()``) of a session's 16 kHz audio, chunk by chunk."""

    def __init__(self) -> None:
        self._chunks: deque[tuple[int, float]] = deque()
        """``(end sample, arrival time)`` of each chunk still buffered, oldest first."""

    def arrived(self, end_sample: int, at: float) -> None:
        """The audio up to ``end_sample`` (exclusive) had arrived at ``at``."""
        self._chunks.append((end_sample, at))

    def arrival_of(self, sample: int) -> float:
        """When the chunk holding ``sample`` arrived (now, for audio not yet seen)."""
        for end, at in self._chunks:
            if sample < end:
                return at
        return time.monotonic()

    def forget_before(self, sample: int) -> None:
        """Drop the chunks that end at or before ``sample`` (audio the session no longer holds)."""
        while self._chunks and self._chunks[0][0] <= sample:
            self._chunks.popleft()
