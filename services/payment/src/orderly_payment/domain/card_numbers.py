"""Recognises card numbers where only provider tokens belong (no I/O)."""

from __future__ import annotations

import re

# 13 to 19 digits, each optionally followed by one space or dash, not inside a longer
# run of digits. No Luhn check on purpose: anything that merely looks like a card
# number is refused, so that a real one never reaches a provider, a table or a log.
_CARD_NUMBER = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")


def looks_like_card_number(text: str) -> bool:
    """True if ``text`` contains 13 to 19 digits in a row, optionally split by spaces or dashes."""
    return _CARD_NUMBER.search(text) is not None
