"""ElevenLabs' error shape: ``{"detail": {"status", "message"}}``."""

from __future__ import annotations

import msgspec
from litestar import Request, Response


class ElevenLabsErrorDetail(msgspec.Struct):
    status: str
    message: str


class ElevenLabsErrorBody(msgspec.Struct):
    detail: ElevenLabsErrorDetail


class ElevenLabsError(Exception):
    """Answered as ``{"detail": {"status": status, "message": message}}`` with ``status_code``."""

    def __init__(self, status_code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = ElevenLabsErrorDetail(status=status, message=message)


def elevenlabs_error_handler(_: Request, exc: ElevenLabsError) -> Response[ElevenLabsErrorBody]:
    return Response(ElevenLabsErrorBody(exc.detail), status_code=exc.status_code)
