"""Request ids: every HTTP request gets one (the caller's ``x-request-id`` or a new one), bound to
its log lines and returned in the ``x-request-id`` response header."""

from __future__ import annotations

import re
import uuid

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
"""A caller's id is kept only when it is short and printable (it ends up in logs)."""


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: binds ``request_id`` for the request's log lines and answers it in a header."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = MutableScopeHeaders(scope).get(REQUEST_ID_HEADER)
        request_id = given if given and _ACCEPTED_ID.match(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await app(scope, receive, send_with_id)

    return middleware
