"""HTTP guard: input that no service may take is refused with 422 naming where, before any
route sees it. Two rules, applied in one pass over the request:

- A card number (``card_data``) in the path, a query parameter (its name or its value), a
  header, or the body of a POST, PUT or PATCH. No service takes one, and each may store
  what a request sends it (an ``Idempotency-Key`` header was kept with a manual refund
  and published in PaymentRefunded).
- Text no store can keep (a NUL, a lone surrogate: the contract's rule,
  ``orderly_schemas.text``, by which a message on Kafka is refused the same way) in the
  path, a query parameter, or a JSON or CSV body. A NUL in a path (``GET /orders/%00``)
  reached PostgreSQL and came back as a 500; one in a body field was accepted, then
  failed where it was stored. A JSON body that is not text at all (bytes its encoding
  does not decode) is refused the same way, naming the body: FastAPI's own answer was a
  400 ``There was an error parsing the body``, the one refusal of a body in another
  shape than every service's 422.

The body is read once, within the limits the guard of ``http_limits`` (which wraps this
one) sets on its size and how long it may take, and handed on to the route as the same
bytes. A JSON body (``application/json``, ``+json``: the bodies FastAPI parses; or one
without a Content-Type) is parsed once, and each of its strings, keys and integers is put
to both rules in one walk. A CSV file (``text/csv``: the ERP imports, up to their own
larger limit) is read a row at a time from those bytes, each cell put to both rules and
named by its row and column. Any other body, and one that cannot be read as what it says
it is, is scanned as text for card numbers, a piece at a time. Most bodies hold nothing
either rule could find, and their bytes show it (``_nothing_to_find``): those are not
parsed here at all, and FastAPI's parse (or the import's) is the only one.

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

import asyncio
import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from orderly_kit.card_data import (
    RULE,
    carries_card_number,
    find_card_numbers,
    json_leaves,
    looks_like_card_number,
    redact_card_numbers,
)
from orderly_kit.http_body import read_body, replaying
from orderly_kit.http_errors import MAX_ERRORS, unprocessable
from orderly_schemas.text import UNSAFE_CHARACTER, text_rule

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
# could be. (bytes.translate and a substring search do the byte-by-byte work, many times
# faster than a regular expression that tries every digit.) The body is looked at a piece
# at a time, so as not to copy it whole; pieces overlap by more than the 25 bytes that 13
# digits with single separators take.
_DIGITS_AS_ZEROS: Final = bytes.maketrans(b"123456789", b"000000000")
_SEPARATORS: Final = b" -"
_THIRTEEN_DIGITS: Final = b"0" * 13
_BYTES_PIECE: Final = 1024 * 1024
_BYTES_OVERLAP: Final = 32
#: How much of a body read as text is looked at in one piece (then to its line's end).
_TEXT_PIECE: Final = 64 * 1024
#: A body larger than this is scanned in a worker thread, off the event loop: an import of
#: up to its own limit (10 MiB, and the guard runs before authentication) may take seconds
#: to read row by row, and the service's other requests and health probes must not wait.
SCANNED_IN_A_THREAD: Final = 256 * 1024
#: Why a JSON body that is not text is refused.
NOT_TEXT_RULE: Final = "the body is not text: send JSON encoded in UTF-8"


class _Findings:
    """The errors found in a request, in the order found: the first ``MAX_ERRORS`` (a 422
    lists no more) kept, each once (a key and its value, or two keys, may be named by
    one path), the rest only counted, so that a file with a finding in each of its
    million rows costs no more memory than one with fifty."""

    def __init__(self) -> None:
        self.listed: list[Error] = []
        self.unlisted = 0
        #: Whether the scan stopped after the first MAX_ERRORS places with findings.
        self.stopped = False

    def __bool__(self) -> bool:
        return bool(self.listed)

    def card_number(self, *loc: str | int) -> None:
        self._add({"type": "card_number", "loc": list(loc), "msg": RULE})

    def unsafe_text(self, rule: str, *loc: str | int) -> None:
        self._add({"type": "value_error", "loc": list(loc), "msg": rule})

    def not_text(self, *loc: str | int) -> None:
        self._add({"type": "json_invalid", "loc": list(loc), "msg": NOT_TEXT_RULE})

    def both_rules(self, text: str, *loc: str | int) -> None:
        """Both rules on one string."""
        if (rule := text_rule(text)) is not None:
            self.unsafe_text(rule, *loc)
        if looks_like_card_number(text):
            self.card_number(*loc)

    def extend(self, other: _Findings) -> None:
        for error in other.listed:
            self._add(error)
        self.unlisted += other.unlisted
        self.stopped |= other.stopped

    def _add(self, error: Error) -> None:
        if len(self.listed) >= MAX_ERRORS:
            self.unlisted += 1
        elif error not in self.listed:
            self.listed.append(error)


def _in_path_query_and_headers(found: _Findings, scope: Scope) -> None:
    found.both_rules(scope.get("path", ""), "path")
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        loc = ("query", redact_card_numbers(name))
        if (rule := text_rule(name) or text_rule(value)) is not None:
            found.unsafe_text(rule, *loc)
        if looks_like_card_number(name) or looks_like_card_number(value):
            found.card_number(*loc)
    for raw_name, raw_value in scope.get("headers", ()):
        name = bytes(raw_name).decode("latin-1").lower()
        if name not in UNSCANNED_HEADERS and looks_like_card_number(
            bytes(raw_value).decode("latin-1")
        ):
            found.card_number("header", name)


def _body_kind(scope: Scope) -> str:
    """``json`` for a JSON body, or one that says nothing of what it is (read as JSON if it
    is, so that a client who forgot the header is told which field is wrong); ``csv``
    for a CSV file; ``text`` for anything else."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = bytes(value).split(b";", 1)[0].strip().lower()
            if kind == b"application/json" or kind.endswith(b"+json"):
                return "json"
            return "csv" if kind == b"text/csv" else "text"
    return "json"


def _in_body(found: _Findings, body: bytes, kind: str) -> None:
    if kind == "json" and not _is_text(body):
        found.not_text("body")
    elif not _nothing_to_find(body):
        _scan_body(found, body, kind)


def _is_text(body: bytes) -> bool:
    """Whether a JSON body decodes in the encoding JSON finds in its first bytes, as
    ``json.loads`` reads it (a surrogate passes: the text rule names it)."""
    try:
        body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError:
        return False
    return True


def _nothing_to_find(body: bytes) -> bool:
    """True if neither rule could find anything in ``body`` however it is read, as its
    bytes show without parsing them: UTF-8 (the other encodings JSON may come in are not
    looked into) with no NUL, no surrogate, no JSON escape of a digit, a space or a dash,
    and nowhere 13 digits in a row once spaces and dashes are taken out. So the common
    body is not parsed here at all."""
    if json.detect_encoding(body) not in ("utf-8", "utf-8-sig"):
        return False
    may_hide = b"\x00" in body or b"\xed" in body or b"\\u" in body
    if may_hide and _MAY_HIDE_FINDINGS.search(body) is not None:
        return False
    return not any(
        _THIRTEEN_DIGITS in body[at : at + _BYTES_PIECE].translate(_DIGITS_AS_ZEROS, _SEPARATORS)
        for at in range(0, len(body), _BYTES_PIECE - _BYTES_OVERLAP)
    )


def _scan_body(found: _Findings, body: bytes, kind: str) -> None:
    if kind == "json":
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # not JSON (or absurdly deep): as text
            pass
        else:
            _in_json(found, data)
            return
    if kind == "csv":
        in_file = _Findings()  # kept only if the file can be read as CSV
        if _in_csv(in_file, body):
            found.extend(in_file)
            return
    if any(looks_like_card_number(piece) for piece in _pieces(body, errors="replace")):
        found.card_number("body")


def _in_json(found: _Findings, data: Any) -> None:
    """Each string, key and integer of a JSON body put to both rules, in one walk."""
    for path, value, is_key in json_leaves(data):
        if isinstance(value, str) and (rule := text_rule(value)) is not None:
            found.unsafe_text(rule, "body", *path)
        # A key is a finding if it is a card number (its path names it without the number).
        if (path[-1] != value) if is_key else carries_card_number(value):
            found.card_number("body", *path)


def _in_csv(found: _Findings, body: bytes) -> bool:
    """The cells of a CSV file that break either rule, named ``["body", row, column]`` as
    the ERP imports read the file: its first row names the columns, row 1 is the one after
    it (blank lines are no rows) and row 0 the header itself; the column is its name in the
    header (card numbers removed), else its place (1 is the first). False if the file is
    not UTF-8 (a surrogate aside, as JSON reads them) or not CSV.

    Two passes over the bytes, neither holding more than a piece of the text: the first
    looks for the lines with findings in whole pieces of text at once (a finding never
    spans cells or lines, so a cell's findings are those of the text it was written in);
    only if there are some does the second read the file as CSV, row by row, to the last
    of them, and look into the cells of their rows. It stops after the first MAX_ERRORS
    lines with findings (a 422 lists no more)."""
    try:
        marked = _lines_with_findings(body)
    except UnicodeDecodeError:
        return False
    found.stopped = len(marked) > MAX_ERRORS
    if not marked:
        return True
    marks = iter(marked)
    mark = next(marks)
    rows = csv.reader(_text_of(body, errors="surrogatepass"))
    try:
        header = next(rows)
        columns: list[str | int] = [
            redact_card_numbers(name.strip()) or n for n, name in enumerate(header, start=1)
        ]
        if mark <= rows.line_num:
            for n, cell in enumerate(header, start=1):
                found.both_rules(cell, "body", 0, n)
            mark = next((m for m in marks if m > rows.line_num), 0)
        row = 0
        for cells in rows if mark else ():  # no further than the last line with a finding
            if cells and (cells[0].strip() or "".join(cells).strip()):
                row += 1  # a blank line is no row
            if mark > rows.line_num:
                continue
            for n, cell in enumerate(cells, start=1):
                column = columns[n - 1] if n <= len(columns) else n
                found.both_rules(cell, "body", row, column)
            mark = next((m for m in marks if m > rows.line_num), 0)
            if not mark:
                break
    except (csv.Error, StopIteration):
        return False
    return True


def _lines_with_findings(body: bytes) -> list[int]:
    """The numbers of the lines of ``body`` (1 is the first; lines end at a CR, an LF or
    both, as the csv module reads them) where either rule finds something, at most
    ``MAX_ERRORS + 1`` of them."""
    marked: list[int] = []
    lines_before = 0
    for piece in _pieces(body, errors="surrogatepass"):
        at = sorted(
            {m.start() for m in UNSAFE_CHARACTER.finditer(piece)}
            | {m.start() for m in find_card_numbers(piece)}
        )
        line, counted = lines_before + 1, 0
        for position in at:
            line += _line_ends(piece, counted, position)
            counted = position
            if not marked or marked[-1] != line:
                marked.append(line)
                if len(marked) > MAX_ERRORS:
                    return marked
        lines_before += _line_ends(piece, 0, len(piece))
    return marked


def _line_ends(text: str, start: int, end: int) -> int:
    return (
        text.count("\n", start, end) + text.count("\r", start, end) - text.count("\r\n", start, end)
    )


def _pieces(body: bytes, *, errors: str) -> Iterator[str]:
    """``body`` as UTF-8 text, in pieces that end at a line's end (where no finding of
    either rule could be cut in two), without ever decoding it whole."""
    text = _text_of(body, errors=errors)
    while piece := text.read(_TEXT_PIECE):
        yield piece + text.readline()


def _text_of(body: bytes, *, errors: str) -> io.TextIOWrapper:
    """``body`` as UTF-8 text to read a piece at a time, with no copy of the bytes."""
    return io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", errors=errors, newline="")


class RefuseCardDataAndUnsafeText:
    """ASGI middleware: 422 for a card number in the path, query, headers or (a POST, PUT
    or PATCH) body, or text no store can keep in the path, query, or a JSON or CSV body,
    naming every place (never the value)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _Findings()
        _in_path_query_and_headers(found, scope)
        if scope["method"] in _WRITES:
            body = await read_body(receive)
            if body is None:
                return  # the client went away before sending its body
            if len(body) > SCANNED_IN_A_THREAD:
                await asyncio.to_thread(_in_body, found, body, _body_kind(scope))
            elif body:
                _in_body(found, body, _body_kind(scope))
            receive = replaying(body, receive)
        if found:
            unlisted = None if found.stopped else found.unlisted
            await unprocessable(found.listed, unlisted=unlisted)(scope, receive, send)
            return
        await self.app(scope, receive, send)
