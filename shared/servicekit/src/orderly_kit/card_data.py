"""Recognises and removes card numbers where only provider tokens belong (no I/O).

The platform takes a payment provider's token plus display data (brand, last four
digits, expiry), never a card number. The guards built on this module (the consumer
guard in ``messaging``, the HTTP guard in ``input_guard_http``, the log filter in
``logging``) refuse or redact what this module calls a card number, one rule for all of
them, so that a number sent by mistake reaches no table, topic or log.

A card number is what a PCI scanner looks for: 13 to 19 digits (single spaces or dashes
allowed between them) that pass the Luhn check and begin with the issuer prefix of a card
network: ``CARD_NETWORKS``, the prefixes that the IIN table of Wikipedia's "Payment card
number" (https://en.wikipedia.org/wiki/Payment_card_number, "Issuer identification
number (IIN)") gives for Visa, Mastercard, American Express, Discover, JCB, UnionPay,
Diners Club and Maestro. Other runs of digits pass: EAN-13 barcodes (SKUs), parcel
tracking numbers, phone numbers with their country code (+86 138 1234 5678).

The known cost: a run that begins with a network's prefix and passes the Luhn check by
chance is refused all the same, as a scanner would refuse it. So about one in ten EAN-13
barcodes that begin like a card is refused wherever it is sent: a German (400-440) or
Japanese (45, 49) one begins like a Visa card, a Belgian (54) one like a Mastercard, some
French (34, 37) ones like an American Express card.

Finding the digits: a run is digits, each optionally followed by one space or dash, not
touching a letter and not inside a UUID (whose groups, joined by dashes, often hold 13
or more digits). Letters on either side end a run because the digit runs inside hex ids
(trace ids, hashes, hex tokens) always touch a letter; a card number glued to a word
("tok_4111…") is still found. A run holds a card number if it is one, or would be one
without one or two of its groups (the digits between its spaces and dashes) at its
start or its end: so "4111 1111 1111 1111 12/27", a card number with its expiry after
it, is found, while a run without separators is taken whole (17 digits in a row are no
card number). A run is looked at in at most nine ways, however long it is: that bounds
the work a body of runs built to cost the most can make.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

#: What a card number is replaced with wherever it is removed.
MARKER: Final = "[card number removed]"
#: The rule a refused field broke, as errors state it (never with the value).
RULE: Final = "looks like a card number; send the provider's token instead"

#: The issuer prefixes of each card network, from the IIN table cited above (the two ends
#: of a range have as many digits). Maestro's are those the table lists today, not the
#: 50 and 56-69 often quoted for it: 69 would take in every Chinese barcode (690-699).
CARD_NETWORKS: Final[dict[str, tuple[str, ...]]] = {
    "Visa": ("4",),
    "Mastercard": ("51-55", "2221-2720"),
    "American Express": ("34", "37"),
    "Discover": ("6011", "644-649", "65"),
    "JCB": ("3528-3589",),
    "UnionPay": ("62",),
    "Diners Club": ("300-305", "36", "38-39"),
    "Maestro": ("5018", "5020", "5038", "5893", "6304", "6759", "6761-6763", "676770", "676774"),
}


def _prefixes(prefix: str) -> list[str]:
    """``"644-649"`` as ``["644", "645", ..., "649"]``."""
    low, _, high = prefix.partition("-")
    return [str(n).zfill(len(low)) for n in range(int(low), int(high or low) + 1)]


# Every prefix written out (some 600), so that a look-up per length tells.
_PREFIXES: Final = frozenset(
    p for prefixes in CARD_NETWORKS.values() for prefix in prefixes for p in _prefixes(prefix)
)
_PREFIX_LENGTHS: Final = sorted({len(p) for p in _PREFIXES})
#: The Luhn check's doubled digits, their own digits summed (7: 14, 1 + 4 = 5).
_DOUBLED: Final = str.maketrans("0123456789", "0246813579")

# Digits, each optionally followed by one space or dash, as far as they go (never a part
# of a longer run of digits, however separated), not touching a letter.
_DIGIT_RUN = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){12,}(?![ -]?[0-9])(?![A-Za-z])"
)
# A UUID's groups, joined by dashes, often hold 13 or more digits in a row: mask them first.
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")

FieldPath = tuple[str | int, ...]
_NOT_UNDER_A_KEY: Final = object()


def is_card_number(digits: str) -> bool:
    """True if ``digits`` (digits only) are 13 to 19 that begin with an issuer prefix and
    pass the Luhn check."""
    return 13 <= len(digits) <= 19 and _has_issuer_prefix(digits) and _passes_luhn(digits)


def _has_issuer_prefix(digits: str) -> bool:
    return any(digits[:n] in _PREFIXES for n in _PREFIX_LENGTHS)


def _passes_luhn(digits: str) -> bool:
    # Summed as bytes (their codes less 48 each): the digits are added up in C.
    kept = sum(digits[-1::-2].encode())
    doubled = sum(digits[-2::-2].translate(_DOUBLED).encode())
    return (kept + doubled - 48 * len(digits)) % 10 == 0


def _holds_card_number(run: str) -> bool:
    # Split off no more than two groups at either end: a run may be a million groups long.
    spaced = run.replace("-", " ")
    head, tail = spaced.split(" ", 2), spaced.rsplit(" ", 2)
    digits = spaced.replace(" ", "")
    first, second = len(head[0]), len(head[1]) if len(head) > 1 else 0
    last, before_last = len(tail[-1]), len(tail[-2]) if len(tail) > 1 else 0
    # The digits without none, one or two groups at the start and at the end.
    starts = {0, first, first + second}
    ends = {len(digits), len(digits) - last, len(digits) - last - before_last}
    return any(is_card_number(digits[start:end]) for start in starts for end in ends)


def find_card_numbers(text: str) -> Iterator[re.Match[str]]:
    """Each run of ``text`` that holds a card number (its ``span()`` is where), one at a
    time, so that a yes or no stops at the first."""
    if _DIGIT_RUN.search(text) is None:  # the common case, without masking
        return
    # Same-length masking keeps the offsets of the original text.
    masked = _UUID.sub(lambda m: "#" * len(m.group()), text)
    for run in _DIGIT_RUN.finditer(masked):
        if _holds_card_number(run.group()):
            yield run


def looks_like_card_number(text: str) -> bool:
    """True if ``text`` holds a card number: 13 to 19 digits in a row (single spaces or
    dashes allowed) with an issuer's prefix that pass the Luhn check."""
    return next(find_card_numbers(text), None) is not None


def redact_card_numbers(text: str) -> str:
    """``text`` with every run of digits that holds a card number replaced by ``MARKER``."""
    spans = [run.span() for run in find_card_numbers(text)]
    if not spans:
        return text
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts += [text[last:start], MARKER]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def carries_card_number(value: Any) -> bool:
    """True if ``value`` (from JSON) is a string or an integer that holds a card number."""
    # A JSON integer counts too: a card number sent as a number is an easy mistake, and
    # no amount or quantity comes near 13 digits. Floats do not (their decimals would).
    if isinstance(value, str):
        return looks_like_card_number(value)
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and looks_like_card_number(str(value))
    )


def json_leaves(data: Any) -> Iterator[tuple[FieldPath, Any, bool]]:
    """Every key and every value other than an object or a list in JSON-like ``data``, in
    the order of its text, as (path, key or value, whether it is a key). A key's path
    ends with the key, and every key in a path has its card numbers removed (a path is
    named in errors, and may be a finding of its own)."""
    # A stack rather than recursion: however deep the data, the walk cannot overflow.
    # Each entry is (path, value, the key it is under or _NOT_UNDER_A_KEY).
    stack: list[tuple[FieldPath, Any, Any]] = [((), data, _NOT_UNDER_A_KEY)]
    while stack:
        path, value, key = stack.pop()
        if key is not _NOT_UNDER_A_KEY:
            yield path, key, True
        if isinstance(value, dict):
            stack += [
                ((*path, redact_card_numbers(str(k))), v, k) for k, v in reversed(value.items())
            ]
        elif isinstance(value, list | tuple):
            stack += [((*path, n), value[n], _NOT_UNDER_A_KEY) for n in reversed(range(len(value)))]
        else:
            yield path, value, False


def card_number_locations(data: Any) -> list[FieldPath]:
    """The path (keys and list indices) of every value in JSON-like ``data`` that holds a
    card number, and of every key that is one; ``()`` is ``data`` itself."""
    found = (
        path
        for path, value, is_key in json_leaves(data)
        if (path[-1] != str(value) if is_key else carries_card_number(value))
    )
    return list(dict.fromkeys(found))


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
            (MARKER if looks_like_card_number(str(k)) else k): without_card_numbers(v)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [without_card_numbers(v) for v in data]
    return MARKER if carries_card_number(data) else data


def describe(fields: list[str]) -> str:
    """The reason a message or request with card numbers in ``fields`` is refused."""
    return "; ".join(f"field {f}: {RULE}" for f in fields)
