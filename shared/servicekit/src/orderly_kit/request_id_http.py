"""Every HTTP request has an id: the caller's ``X-Request-ID`` when it is well formed, else a
new one. It is in ``context.current_request_id`` while the request is served (so the logs
and the audit log name it) and goes back as the response's ``X-Request-ID``.

Well formed: 1 to 128 characters of letters, digits and ``-_.:/+=@``, and nothing that
looks like a card number. Anything else is replaced rather than refused: the id is for
tracing, and a client's odd header is no reason to refuse its request, nor to write
what it sent into the logs and the audit log.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderly_kit.audit import MAX_REQUEST_ID
from orderly_kit.card_data import looks_like_card_number
from orderly_kit.context import current_request_id

HEADER: Final = "X-Request-ID"
_WELL_FORMED = re.compile(rf"^[A-Za-z0-9\-_.:/+=@]{{1,{MAX_REQUEST_ID}}}$")


def accepted(value: str | None) -> str | None:
    """``value`` if it may serve as a request id; None if it is absent or malformed."""
    if value is None or not _WELL_FORMED.match(value) or looks_like_card_number(value):
        return None
    return value


def _given(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            return accepted(bytes(value).decode("latin-1"))
    return None


class RequestId:
    """ASGI middleware: the request's id in context while it is served, and in its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _given(scope) or str(uuid.uuid4())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        token = current_request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)
