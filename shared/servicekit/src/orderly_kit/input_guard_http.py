"""HTTP guard: input that no service may take is refused with 422 naming where, before any
route sees it. Two rules, applied in one pass over the request:

- A card number (``card_data``) in the path, a query parameter (its name or its value), a
  header, or the body of a POST, PUT or PATCH. No service takes one, and each may store
  what a request sends it (an ``Idempotency-Key`` header was kept with a manual refund
  and published in PaymentRefunded).
- Text no store can keep (a NUL, a lone surrogate: the contract's rule,
  ``orderly_schemas.text``, by which a message on Kafka is refused the same way) in the
  path, a query parameter or a JSON body. A NUL in a path (``GET /orders/%00``) reached
  PostgreSQL and came back as a 500; one in a body field was accepted, then failed where
  it was stored.

The body is read once, within the limits the guard of ``http_limits`` (which wraps this
one) sets on its size and how long it may take, and handed on to the route as the same
bytes. A JSON body (``application/json``, ``+json``: the bodies FastAPI parses; or one
without a Content-Type) is parsed once, and each of its strings, keys and integers is put
to both rules in one walk; any other body, and one that does not parse, is scanned as
text for card numbers. Most bodies hold nothing either rule could find, and their bytes
show it (``_nothing_to_find``): those are not parsed here at all, and FastAPI's parse
is the only one.

It runs before routing and validation, so that a value refused is never parsed into a
model (whose 422 would echo it), stored or logged: the answer names places, never values
(``{"type": "card_number" | "value_error", "loc": ["body", "lines", 0, "sku"], "msg":
<the rule>}``), every place at once.

Headers written by machines for machines are not scanned: ``Authorization`` (a
credential, never stored or logged, whose base64 could hold a run of digits by accident)
and the trace context that clients' and proxies' instrumentation adds (W3C, B3, Jaeger,
Google and AWS): their ids are hex, or decimal in Google's case, and a span id of sixteen
decimal digits could pass for a card number and refuse a request at random.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from orderly_kit.card_data import (
    RULE,
    FieldPath,
    card_number_within,
    carries_card_number,
    json_leaves,
    looks_like_card_number,
    redact_card_numbers,
)
from orderly_kit.http_body import read_body, replaying
from orderly_kit.http_errors import unprocessable
from orderly_schemas.text import text_rule

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

Error = dict[str, Any]

# In a body's bytes, what either rule could be looking at: a NUL (raw, or escaped in JSON),
# a surrogate (escaped in JSON, or as the bytes UTF-8 refuses and JSON reads anyway), or a
# JSON escape of a digit, a space or a dash (part of a card number no digits show).
_MAY_HIDE_FINDINGS: Final = re.compile(
    rb"\x00|\xed[\xa0-\xbf]|\\u(?:0000|[dD][89a-fA-F]|002[0dD]|003[0-9])"
)
# Every digit as 0, spaces and dashes taken out: 13 zeros in a row are where a card number
# could be. (The byte-by-byte work is done by bytes.translate and a substring search, an
# order of magnitude faster than a regular expression that tries every digit.)
_DIGITS_AS_ZEROS: Final = bytes.maketrans(b"123456789", b"000000000")
_SEPARATORS: Final = b" -"
_THIRTEEN_DIGITS: Final = b"0" * 13
_DIGIT_RUN: Final = re.compile(rb"[0-9]{13,}")


def _card_number(loc: FieldPath) -> Error:
    return {"type": "card_number", "loc": list(loc), "msg": RULE}


def _unsafe_text(loc: FieldPath, rule: str) -> Error:
    return {"type": "value_error", "loc": list(loc), "msg": rule}


def _in_path_query_and_headers(scope: Scope) -> list[Error]:
    found: list[Error] = []
    path = scope.get("path", "")
    if (rule := text_rule(path)) is not None:
        found.append(_unsafe_text(("path",), rule))
    if looks_like_card_number(path):
        found.append(_card_number(("path",)))
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        loc = ("query", redact_card_numbers(name))
        if (rule := text_rule(name) or text_rule(value)) is not None:
            found.append(_unsafe_text(loc, rule))
        if looks_like_card_number(name) or looks_like_card_number(value):
            found.append(_card_number(loc))
    for raw_name, raw_value in scope.get("headers", ()):
        name = bytes(raw_name).decode("latin-1").lower()
        if name not in UNSCANNED_HEADERS and looks_like_card_number(
            bytes(raw_value).decode("latin-1")
        ):
            found.append(_card_number(("header", name)))
    return found


def _is_json(scope: Scope) -> bool:
    """Whether the body is JSON, or says nothing of what it is (then it is read as JSON if
    it is, so that a client who forgot the header is told which field is wrong)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = bytes(value).split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return True


def _in_body(body: bytes, *, is_json: bool) -> list[Error]:
    if _nothing_to_find(body):
        return []
    return _scan_body(body, is_json=is_json)


def _nothing_to_find(body: bytes) -> bool:
    """True if neither rule could find anything in ``body`` however it is read, as its
    bytes show without parsing them: UTF-8 (the other encodings JSON may come in are not
    looked into) with no NUL, no surrogate, no JSON escape of a digit, a space or a dash,
    and no 13 to 19 digits in a row (spaces and dashes taken out, whatever surrounds
    them) that would be a card number. So the common body is not parsed here at all."""
    if json.detect_encoding(body) not in ("utf-8", "utf-8-sig"):
        return False
    may_hide = b"\x00" in body or b"\xed" in body or b"\\u" in body
    if may_hide and _MAY_HIDE_FINDINGS.search(body) is not None:
        return False
    if _THIRTEEN_DIGITS not in body.translate(_DIGITS_AS_ZEROS, _SEPARATORS):
        return True
    # A card number is a contiguous part of one of these runs, however its digits were
    # separated and whatever letters, escapes or quotes are around it.
    runs = _DIGIT_RUN.findall(body.translate(None, _SEPARATORS))
    return not any(card_number_within(run.decode()) for run in runs)


def _scan_body(body: bytes, *, is_json: bool) -> list[Error]:
    if is_json:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # not JSON (or absurdly deep): as text
            pass
        else:
            return _in_json(data)
    text = body.decode(errors="replace")
    return [_card_number(("body",))] if looks_like_card_number(text) else []


def _in_json(data: Any) -> list[Error]:
    """Each string, key and integer of a JSON body put to both rules, in one walk."""
    found: list[Error] = []
    for path, value, is_key in json_leaves(data):
        if isinstance(value, str) and (rule := text_rule(value)) is not None:
            found.append(_unsafe_text(("body", *path), rule))
        # A key is a finding if it is a card number (its path names it without the number).
        if (path[-1] != value) if is_key else carries_card_number(value):
            found.append(_card_number(("body", *path)))
    # A key and its value, or two keys, may be named by one path: once is enough.
    return list({(e["type"], *e["loc"], e["msg"]): e for e in found}.values())


class RefuseCardDataAndUnsafeText:
    """ASGI middleware: 422 for a card number in the path, query, headers or (a POST, PUT
    or PATCH) body, or text no store can keep in the path, query or JSON body, naming
    every place (never the value)."""

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
            if body:
                detail += _in_body(body, is_json=_is_json(scope))
            receive = replaying(body, receive)
        if detail:
            await unprocessable(detail)(scope, receive, send)
            return
        await self.app(scope, receive, send)
