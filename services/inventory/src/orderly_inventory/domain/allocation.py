"""Allocating order lines to warehouses: all or nothing, by warehouse priority."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Available:
    """Units of one SKU that one warehouse can still give (on hand minus reserved)."""

    warehouse: str
    priority: int  # lower is served first
    quantity: int


@dataclass(frozen=True)
class Pick:
    """Units of one SKU to take from one warehouse."""

    sku: str
    warehouse: str
    quantity: int


@dataclass(frozen=True)
class Shortage:
    """What could not be met: sku → units missing."""

    missing: Mapping[str, int]

    @property
    def short_skus(self) -> list[str]:
        return sorted(self.missing)

    @property
    def reason(self) -> str:
        parts = [f"{sku} is short by {n}" for sku, n in sorted(self.missing.items())]
        return "insufficient stock: " + ", ".join(parts)


def wanted_by_sku(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Units wanted per SKU, in SKU order; repeated lines of one SKU are added up."""
    wanted: dict[str, int] = {}
    for sku, quantity in lines:
        wanted[sku] = wanted.get(sku, 0) + quantity
    return dict(sorted(wanted.items()))


def allocate(
    lines: Iterable[tuple[str, int]], stock: Mapping[str, Sequence[Available]]
) -> list[Pick] | Shortage:
    """Serve each line from the highest-priority warehouses, splitting a line if it must.

    Either every line is met in full or nothing is taken and the shortage is named.
    An unknown SKU is short by its whole quantity.
    """
    picks: list[Pick] = []
    missing: dict[str, int] = {}
    for sku, wanted in wanted_by_sku(lines).items():
        remaining = wanted
        for a in sorted(stock.get(sku, ()), key=lambda a: (a.priority, a.warehouse)):
            if remaining == 0:
                break
            take = min(remaining, max(a.quantity, 0))
            if take:
                picks.append(Pick(sku, a.warehouse, take))
                remaining -= take
        if remaining:
            missing[sku] = remaining
    return Shortage(missing) if missing else picks
