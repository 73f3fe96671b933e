"""Keyset pagination: ``limit`` and an opaque ``cursor`` that names the last item seen.

A cursor is the sort key of the last item of a page, as JSON in URL-safe base64;
``encode`` writes it and ``decode`` reads it back or refuses it with a 422 naming
``cursor``. Every list of every service's API pages this way (the audit log, paged by id,
aside).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, literal, tuple_

from orderly_kit.http_errors import invalid

T = TypeVar("T")
#: A part of a sort key; a datetime or UUID travels as its ISO 8601 or hex text.
Part = str | int | datetime | UUID
NOT_A_CURSOR = "not a cursor of this list: pass the `next` of the previous page"

#: The query parameters of a list: how many items a page holds, and where it starts.
Limit = Annotated[int, Query(ge=1, le=500, description="at most this many items (1 to 500)")]
Cursor = Annotated[str | None, Query(max_length=500, description="the `next` of the previous page")]


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next`` is the cursor of the following page, null on the last."""

    items: list[T]
    next: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


def encode(*key: Part) -> str:
    """The cursor that continues after the item whose sort key is ``key``."""
    parts = [str(p) if isinstance(p, UUID) else p for p in key]
    parts = [p.isoformat() if isinstance(p, datetime) else p for p in parts]
    return base64.urlsafe_b64encode(json.dumps(parts, separators=(",", ":")).encode()).decode()


def decode(cursor: str | None, *types: type[Part]) -> tuple[Any, ...] | None:
    """The sort key ``cursor`` continues after, one part of each of ``types``; None if no
    cursor (the first page). A 422 naming ``cursor`` if it is not a cursor of this list."""
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(key, list) or len(key) != len(types):
            raise ValueError(key)
        return tuple(_part(part, kind) for part, kind in zip(key, types, strict=True))
    except ValueError:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise invalid(("query", "cursor"), NOT_A_CURSOR, cursor) from None


def next_cursor(last: Part | tuple[Part, ...] | None) -> str | None:
    """The ``next`` of a page whose last item has the sort key ``last``; None on the last page."""
    if last is None:
        return None
    return encode(*last) if isinstance(last, tuple) else encode(last)


def cut(
    found: Sequence[T], limit: int, key: Callable[[T], tuple[Part, ...]]
) -> tuple[list[T], str | None]:
    """A page of ``found`` (read with one item more than ``limit``) and its ``next``."""
    items = list(found[:limit])
    return items, next_cursor(key(items[-1]) if len(found) > limit else None)


def older_than(columns: Sequence[ColumnElement[Any]], key: tuple[Any, ...]) -> ColumnElement[bool]:
    """The rows after the item whose sort key is ``key`` in a list sorted by ``columns``,
    each descending (newest first): those whose key is less."""
    return tuple_(*columns) < tuple_(*(literal(part) for part in key))


def _part(part: object, kind: type[Part]) -> Part:
    if kind is datetime and isinstance(part, str):
        moment = datetime.fromisoformat(part)
        if moment.tzinfo is not None:
            return moment
    elif kind is UUID and isinstance(part, str):
        return UUID(part)
    elif isinstance(part, str | int) and type(part) is kind:  # a bool is not an int here
        return part
    raise ValueError(part)
