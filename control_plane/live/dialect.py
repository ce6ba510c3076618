"""How a front door speaks on a live socket: its client frames in, Tandem's session messages out.

The gateway runs one :class:`~control_plane.live.session.LiveSession` per socket whatever the door;
a dialect only translates. Tandem's own socket speaks :class:`NativeDialect`; the OpenAI and
ElevenLabs realtime doors bring theirs (``control_plane/openai/realtime.py``,
``control_plane/elevenlabs/realtime.py``).
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from core.protocol import ClientMessage, ServerMessage, decode_client_message, encode_message


class Reply(msgspec.Struct):
    """A text frame a dialect answers by itself (e.g. OpenAI's ``session.updated``), sent in order with the rest."""

    text: str


Incoming = bytes | ClientMessage | Reply
"""What a client text frame asks for: audio in the session's encoding, a control message, or a direct answer."""


class Dialect(Protocol):
    def read(self, text: str) -> list[Incoming]:
        """The work a client text frame asks for; raises ``ValueError`` (or msgspec's errors) for a bad frame."""
        ...

    def write(self, message: ServerMessage | Reply) -> list[str]:
        """The text frames that carry ``message`` to the client (none where the door has no such message)."""
        ...


class NativeDialect:
    """``/v1/audio/transcriptions/stream``: Tandem's own protocol (``core.protocol``)."""

    def read(self, text: str) -> list[Incoming]:
        return [decode_client_message(text)]

    def write(self, message: ServerMessage | Reply) -> list[str]:
        return [message.text] if isinstance(message, Reply) else [encode_message(message)]


def split_audio(audio: bytes, max_bytes: int) -> list[bytes]:
    """``audio`` as frames the gateway accepts (at most ``max_bytes`` each, i.e. 1 s)."""
    return [audio[start : start + max_bytes] for start in range(0, len(audio), max_bytes)]
