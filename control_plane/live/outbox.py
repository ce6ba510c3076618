"""The messages waiting for one WebSocket client: in order, and bounded."""

from __future__ import annotations

import asyncio
from collections import deque

from core.metrics import count_error
from core.protocol import CloseCode, ErrorCode, ErrorMessage, ServerMessage


class Outbox:
    """At most ``max_messages`` messages wait for the client; producers never wait.

    A client that falls further behind is a slow consumer: what waits for it is dropped, it is
    sent ``slow_consumer``, then the socket is closed with 1008 and later messages are discarded
    (:attr:`overflowed` is set). :meth:`close` says no more messages will come; the reader gets
    ``None`` once the last one is taken, then closes the socket with :attr:`close_code`.
    """

    def __init__(self, max_messages: int) -> None:
        self._max_messages = max_messages
        self._messages: deque[ServerMessage] = deque()
        self._ready = asyncio.Event()
        self._closed = False
        self.close_code = CloseCode.NORMAL
        self.overflowed = asyncio.Event()

    @property
    def closed(self) -> bool:
        """No more messages are accepted (closed, the client gone or too slow)."""
        return self._closed

    def put(self, message: ServerMessage) -> None:
        """Queue ``message``; discarded once the outbox is closed. Errors are counted by code."""
        if isinstance(message, ErrorMessage):
            count_error(message.code)
        if self._closed:
            return
        if len(self._messages) >= self._max_messages:
            self._overflow()
            return
        self._messages.append(message)
        self._ready.set()

    def close(self) -> None:
        """No more messages: the reader ends after the ones queued."""
        self._closed = True
        self._ready.set()

    def discard(self) -> None:
        """The client is gone: drop what waits and accept nothing more."""
        self._messages.clear()
        self.close()

    async def get(self) -> ServerMessage | None:
        """The next message, or ``None`` once the outbox is closed and empty."""
        while not self._messages:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._messages.popleft()

    def _overflow(self) -> None:
        count_error(ErrorCode.SLOW_CONSUMER)
        self._messages.clear()
        self._messages.append(
            ErrorMessage(
                code=ErrorCode.SLOW_CONSUMER,
                message=f"more than {self._max_messages} messages waited for this client; closing",
                recoverable=False,
            )
        )
        self.close_code = CloseCode.POLICY_VIOLATION
        self.close()
        self.overflowed.set()
