"""Text no store can keep: the NUL character, which PostgreSQL's text refuses, and a lone
UTF-16 surrogate, which UTF-8 cannot encode. Found anywhere in a message or a request,
it is refused where it enters, naming the field, so that no consumer accepts what
another would fail on later (a NUL in a customer's name once passed checkout, then
failed the order's insert and was dead-lettered after analytics had counted it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

#: A NUL, or a surrogate code point: in a Python string that JSON produced, a surrogate
#: is always a lone one (a valid pair decodes to one character beyond U+FFFF).
UNSAFE_CHARACTER: Final = re.compile("[\x00\ud800-\udfff]")
_NUL_ESCAPE: Final = "\\u0000"
_NUL_ESCAPE_BYTES: Final = b"\\u0000"

NUL_RULE: Final = "must not contain the NUL character (U+0000)"
SURROGATE_RULE: Final = "must not contain a lone UTF-16 surrogate (U+D800 to U+DFFF)"

FieldPath = tuple[str | int, ...]


def text_rule(value: str) -> str | None:
    """Why ``value`` cannot be kept, or None if it can."""
    found = UNSAFE_CHARACTER.search(value)
    if found is None:
        return None
    return NUL_RULE if found.group() == "\x00" else SURROGATE_RULE


def unsafe_text_escaped(json_data: str | bytes | bytearray) -> bool:
    """Whether JSON text spells a NUL (the only way JSON can carry one: ``\\u0000``)."""
    if isinstance(json_data, str):
        return _NUL_ESCAPE in json_data
    return _NUL_ESCAPE_BYTES in json_data


def unsafe_text_error(title: str, json_data: str | bytes | bytearray) -> ValidationError | None:
    """The validation error of a message whose JSON holds text that cannot be kept, one
    error per field and never its value; None if it holds none after all (a ``\\u0000``
    that is an escaped backslash and the letters after it)."""
    try:
        data = json.loads(json_data)
    except (ValueError, RecursionError):
        return None  # pydantic's own reading says what is wrong with it
    found = list(unsafe_text(data))
    if not found:
        return None
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("unsafe_text", rule), loc=path, input="(not shown)"
            )
            for path, rule in found
        ],
    )


def unsafe_text(value: Any, at: FieldPath = ()) -> Iterator[tuple[FieldPath, str]]:
    """Each (path, rule) of a string in ``value`` (JSON-like: dicts, lists, strings) that
    cannot be kept; a key that cannot be kept counts as its own path."""
    if isinstance(value, str):
        rule = text_rule(value)
        if rule is not None:
            yield at, rule
    elif isinstance(value, dict):
        for key, item in value.items():
            path = (*at, key)
            if isinstance(key, str) and (rule := text_rule(key)) is not None:
                yield path, rule
            yield from unsafe_text(item, path)
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            yield from unsafe_text(item, (*at, n))


def dotted(path: FieldPath) -> str:
    """``customer.name``, ``lines.0.sku``: a path as the errors name it."""
    return ".".join(str(part) for part in path) or "(the message)"
