"""HTTP guard: a request body that carries a card number is refused before any route sees it."""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from orderly_kit.card_data import (
    RULE,
    FieldPath,
    card_number_locations,
    looks_like_card_number,
)
from orderly_kit.http_body import read_body, replaying

_WRITES: Final = frozenset({"POST", "PUT", "PATCH"})


def _refusal(body: bytes) -> list[dict[str, Any]]:
    """FastAPI-style error details, one per field that looks like a card number."""
    locations: list[FieldPath]
    try:
        locations = card_number_locations(json.loads(body))
    except (ValueError, RecursionError):  # not JSON (or absurdly deep): scan it as text
        text = body.decode(errors="replace")
        locations = [()] if looks_like_card_number(text) else []
    return [{"loc": ["body", *loc], "msg": RULE, "type": "card_number"} for loc in locations]


class RejectCardNumbers:
    """ASGI middleware: a POST, PUT or PATCH body with a card number gets 422 naming the fields.

    It runs before routing and validation, so the value is never parsed into a model
    (whose 422 would echo it), stored or logged; the answer names fields, never values.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITES:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # the client went away before sending its body
        detail = _refusal(body) if body else []
        if detail:
            await JSONResponse({"detail": detail}, status_code=422)(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)
