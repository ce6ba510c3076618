"""REST errors: every 4xx/5xx is ``{"error": {"code", "message"}}`` (plus ``detail`` for clients that read it)."""

from __future__ import annotations

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from control_plane.rest.schemas import ErrorDetail, ErrorResponse
from core.metrics import count_error

_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large", 500: "internal_error"}


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with ``status_code``."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message


def error_response(
    status_code: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response[ErrorResponse]:
    """The JSON error body, counted in ``tandem_errors_total{code}``."""
    count_error(code)
    return Response(ErrorResponse(ErrorDetail(code, message), message), status_code=status_code, headers=headers)


def api_error_handler(_: Request, exc: ApiError) -> Response[ErrorResponse]:
    return error_response(exc.status_code, exc.code, exc.message)


def validation_error_handler(_: Request, exc: ValidationException) -> Response[ErrorResponse]:
    problems = exc.extra if isinstance(exc.extra, list) else []
    message = "; ".join(f"{item.get('key')}: {item.get('message')}" for item in problems) or exc.detail
    return error_response(400, "invalid_parameters", message)


def http_error_handler(_: Request, exc: HTTPException) -> Response[ErrorResponse]:
    """Litestar's own errors (404 route, 405, 413 body too large...) in the same JSON shape."""
    code = _CODES.get(exc.status_code, "http_error")
    if exc.status_code == 413:
        code = "file_too_large"
    return error_response(exc.status_code, code, exc.detail, exc.headers)


def internal_error_handler(_: Request, exc: Exception) -> Response[ErrorResponse]:
    message = "the server failed to handle the request"
    return error_response(500, "internal_error", message)
