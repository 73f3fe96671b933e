"""Keyset pagination: ``limit`` and an opaque ``cursor`` that names the last item seen."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next`` is the cursor of the following page, null on the last."""

    items: list[T]
    next: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


def encode(key: list[Any]) -> str:
    """The cursor that continues after the item whose sort key is ``key``."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode(cursor: str, *, types: tuple[type, ...]) -> list[Any]:
    """The sort key a cursor continues after, whose parts have ``types``.

    ValueError if it is not a cursor of this list.
    """
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        key = None
    if (
        not isinstance(key, list)
        or len(key) != len(types)
        or not all(type(part) is kind for part, kind in zip(key, types, strict=True))
    ):
        raise ValueError("not a cursor of this list: pass the `next` of the previous page")
    return key
