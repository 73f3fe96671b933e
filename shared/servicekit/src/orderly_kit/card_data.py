"""Recognises and removes card numbers where only provider tokens belong (no I/O).

The platform takes a payment provider's token plus display data (brand, last four
digits, expiry), never a card number. The guards built on this module (the consumer
guard in ``messaging``, the HTTP guard in ``card_data_http``, the log filter in
``logging``) refuse or redact anything that looks like one, so that a number sent by
mistake reaches no table, topic or log.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

#: What a card number is replaced with wherever it is removed.
MARKER: Final = "[card number removed]"
#: The rule a refused field broke, as errors state it (never with the value).
RULE: Final = "looks like a card number; send the provider's token instead"

# 13 to 19 digits, each optionally followed by one space or dash, forming the whole run:
# not inside a longer run of digits (however separated) and not touching a letter. No
# Luhn check on purpose: anything that merely looks like a card number is refused, so
# that a real one never reaches a provider, a table or a log. Letters on either side
# end the match because the digit runs inside hex ids (trace ids, hashes, hex tokens)
# always touch a letter; a card number glued to a word ("tok_4111…") still matches.
_CARD_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){12,18}(?![ -]?[0-9])(?![A-Za-z])"
)
# A UUID's groups, joined by dashes, often hold 13 or more digits in a row: mask them first.
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")

FieldPath = tuple[str | int, ...]


def _card_number_spans(text: str) -> list[tuple[int, int]]:
    if _CARD_NUMBER.search(text) is None:  # the common case, without masking
        return []
    # Same-length masking keeps the offsets of the original text.
    masked = _UUID.sub(lambda m: "#" * len(m.group()), text)
    return [m.span() for m in _CARD_NUMBER.finditer(masked)]


def looks_like_card_number(text: str) -> bool:
    """True if ``text`` holds 13 to 19 digits in a row (single spaces or dashes allowed)."""
    return bool(_card_number_spans(text))


def redact_card_numbers(text: str) -> str:
    """``text`` with every card-number-like run replaced by ``MARKER``."""
    spans = _card_number_spans(text)
    if not spans:
        return text
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts += [text[last:start], MARKER]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _suspect(value: Any) -> bool:
    # A JSON integer counts too: a card number sent as a number is an easy mistake, and
    # no amount or quantity comes near 13 digits. Floats do not (their decimals would).
    if isinstance(value, str):
        return looks_like_card_number(value)
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and looks_like_card_number(str(value))
    )


def _walk(data: Any, path: FieldPath) -> Iterator[FieldPath]:
    if isinstance(data, dict):
        for key, value in data.items():
            # A key is named in errors, so it is redacted there; one that is itself a
            # card number is a finding of its own.
            step = redact_card_numbers(str(key))
            if step != str(key):
                yield (*path, step)
            yield from _walk(value, (*path, step))
    elif isinstance(data, list):
        for n, value in enumerate(data):
            yield from _walk(value, (*path, n))
    elif _suspect(data):
        yield path


def card_number_locations(data: Any) -> list[FieldPath]:
    """The path (keys and list indices) of every value in JSON-like ``data`` that looks
    like a card number; ``()`` is ``data`` itself."""
    return list(dict.fromkeys(_walk(data, ())))


def dotted(path: FieldPath) -> str:
    """``("lines", 0, "sku")`` as ``lines.0.sku``; the empty path as ``(body)``."""
    return ".".join(str(p) for p in path) or "(body)"


def card_number_fields(data: Any) -> list[str]:
    """The dotted path (``payment.token``, ``lines.0.sku``) of every value in JSON-like
    ``data`` that looks like a card number."""
    return [dotted(p) for p in card_number_locations(data)]


def without_card_numbers(data: Any) -> Any:
    """A copy of JSON-like ``data`` in which every value (or key) that looks like a card
    number is replaced by ``MARKER``."""
    if isinstance(data, dict):
        return {
            (MARKER if _suspect(str(k)) else k): without_card_numbers(v) for k, v in data.items()
        }
    if isinstance(data, list):
        return [without_card_numbers(v) for v in data]
    return MARKER if _suspect(data) else data


def describe(fields: list[str]) -> str:
    """The reason a message or request with card numbers in ``fields`` is refused."""
    return "; ".join(f"field {f}: {RULE}" for f in fields)
