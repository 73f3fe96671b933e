"""Money as customers read it (no I/O)."""

from __future__ import annotations

from typing import Final

from orderly_schemas.base import Money

# ISO 4217 currencies whose minor unit is not a hundredth; every other has two decimals.
_DECIMALS: Final = {
    "BHD": 3,
    "CLP": 0,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
}


def format_money(money: Money) -> str:
    """``EUR 49.99`` from 4999 minor units of EUR; ``JPY 500`` from 500 of JPY."""
    decimals = _DECIMALS.get(money.currency, 2)
    if decimals == 0:
        return f"{money.currency} {money.amount}"
    major, minor = divmod(money.amount, 10**decimals)
    return f"{money.currency} {major}.{minor:0{decimals}d}"
