"""HTTP guard: text no store can keep (a NUL, a lone surrogate) in the path, the query or a
JSON body is refused with 422 naming where, before any route sees it.

Without it a NUL in a path (``GET /orders/%00``) reached PostgreSQL and came back as a
500, and one in a body field was accepted, then failed where it was stored. The rule
is the contract's (``orderly_schemas.text``): a message on Kafka is refused the same way.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from orderly_kit.http_body import read_body, replaying
from orderly_kit.http_errors import unprocessable
from orderly_schemas.text import text_rule, unsafe_text

_WRITES: Final = frozenset({"POST", "PUT", "PATCH"})


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = bytes(value).split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False


def _in_path_and_query(scope: Scope) -> list[dict[str, Any]]:
    detail = []
    if (rule := text_rule(scope.get("path", ""))) is not None:
        detail.append({"type": "value_error", "loc": ["path"], "msg": rule})
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if (rule := text_rule(name) or text_rule(value)) is not None:
            detail.append({"type": "value_error", "loc": ["query", name], "msg": rule})
    return detail


def _in_body(body: bytes) -> list[dict[str, Any]]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return []  # not JSON: the route's own validation answers it
    return [
        {"type": "value_error", "loc": ["body", *path], "msg": rule}
        for path, rule in unsafe_text(data)
    ]


class RefuseUnsafeText:
    """ASGI middleware: 422 for a NUL or a lone surrogate in the path, the query or a JSON
    body, naming where (never echoing the value)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = _in_path_and_query(scope)
        if not detail and scope["method"] in _WRITES and _is_json(scope):
            body = await read_body(receive)
            if body is None:
                return  # the client went away before sending its body
            detail = _in_body(body)
            receive = replaying(body, receive)
        if detail:
            await unprocessable(detail)(scope, receive, send)
            return
        await self.app(scope, receive, send)
