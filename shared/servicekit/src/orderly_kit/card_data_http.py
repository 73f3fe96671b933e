"""HTTP guard: a request that carries a card number anywhere is refused before any route sees it.

Anywhere: the path, a query parameter (its name or its value), a header, or the body of
a POST, PUT or PATCH. Every service has it (``build_service``): no service takes a card
number, and each may store what a request sends it (an ``Idempotency-Key`` header was
kept with a manual refund and published in PaymentRefunded).

Headers written by machines for machines are not scanned: ``Authorization`` (a
credential, never stored or logged, whose base64 could hold a run of digits by accident)
and the trace context that clients' and proxies' instrumentation adds (W3C, B3, Jaeger,
Google and AWS): their ids are hex, or decimal in Google's case, and a span id of sixteen
decimal digits (one in two thousand for hex) would otherwise refuse a request at random.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from orderly_kit.card_data import (
    RULE,
    FieldPath,
    card_number_locations,
    looks_like_card_number,
    redact_card_numbers,
)
from orderly_kit.http_body import read_body, replaying
from orderly_kit.http_errors import unprocessable

_WRITES: Final = frozenset({"POST", "PUT", "PATCH"})
#: Headers never scanned (lower case, as ASGI gives them): credentials and trace context.
UNSCANNED_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "traceparent",
        "tracestate",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "uber-trace-id",
        "x-cloud-trace-context",
        "x-amzn-trace-id",
    }
)


def _error(*loc: str | int) -> dict[str, Any]:
    return {"type": "card_number", "loc": list(loc), "msg": RULE}


def _in_path_query_and_headers(scope: Scope) -> list[dict[str, Any]]:
    detail = []
    if looks_like_card_number(scope.get("path", "")):
        detail.append(_error("path"))
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if looks_like_card_number(name) or looks_like_card_number(value):
            detail.append(_error("query", redact_card_numbers(name)))
    for raw_name, raw_value in scope.get("headers", ()):
        name = bytes(raw_name).decode("latin-1").lower()
        if name not in UNSCANNED_HEADERS and looks_like_card_number(
            bytes(raw_value).decode("latin-1")
        ):
            detail.append(_error("header", name))
    return detail


def _in_body(body: bytes) -> list[dict[str, Any]]:
    """One error per field that looks like a card number."""
    locations: list[FieldPath]
    try:
        locations = card_number_locations(json.loads(body))
    except (ValueError, RecursionError):  # not JSON (or absurdly deep): scan it as text
        text = body.decode(errors="replace")
        locations = [()] if looks_like_card_number(text) else []
    return [_error("body", *loc) for loc in locations]


class RejectCardNumbers:
    """ASGI middleware: a request with a card number in its path, query, headers or (a POST,
    PUT or PATCH) body gets 422 naming where.

    It runs before routing and validation, so the value is never parsed into a model
    (whose 422 would echo it), stored or logged; the answer names places, never values.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = _in_path_query_and_headers(scope)
        if scope["method"] in _WRITES:
            body = await read_body(receive)
            if body is None:
                return  # the client went away before sending its body
            detail += _in_body(body) if body else []
            receive = replaying(body, receive)
        if detail:
            await unprocessable(detail)(scope, receive, send)
            return
        await self.app(scope, receive, send)
