"""Allocating an order to warehouses: all or nothing, one warehouse when one can, by policy.

An order is served whole by a single warehouse whenever one warehouse has every
line (one parcel); the policy picks which. Only when none has it all is the
order split, over as few warehouses as can serve it, the policy again choosing
among the sets of that size and which warehouse of the set gives first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import combinations


class Policy(StrEnum):
    """Which warehouses serve an order first (INVENTORY_ALLOCATION_POLICY).

    Every policy breaks its ties by priority, then by warehouse code.
    """

    #: warehouses.priority, lower first.
    PRIORITY = "priority"
    #: The warehouse with the most available units of the order's SKUs first (spreads the load).
    MOST_STOCK = "most_stock"
    #: Warehouses of the region serving the ship-to address first, then by priority.
    NEAREST = "nearest"


#: Up to this many candidate warehouses a split uses the fewest warehouses that can serve
#: the order (every set of each size is tried, 2^n at worst); beyond it, a greedy cover.
EXACT_SPLIT_LIMIT = 12

Gives = Mapping[str, Mapping[str, int]]  # warehouse → sku → units it can give


@dataclass(frozen=True)
class Available:
    """Units of one SKU that one warehouse can still give (on hand minus reserved)."""

    warehouse: str
    priority: int  # lower is served first
    quantity: int
    region: str | None = None  # the warehouse's region (for the nearest policy)


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
    lines: Iterable[tuple[str, int]],
    stock: Mapping[str, Sequence[Available]],
    *,
    policy: Policy = Policy.PRIORITY,
    ship_region: str | None = None,
) -> list[Pick] | Shortage:
    """Serve the order from one warehouse if one can, else from the fewest, by ``policy``.

    Either every line is met in full or nothing is taken and the shortage is named.
    An unknown SKU is short by its whole quantity; a row oversold (below zero) gives
    nothing. ``ship_region`` is the region serving the ship-to address (None: unknown,
    and ``nearest`` then orders by priority alone). Picks come in (sku, warehouse) order.
    """
    wanted = wanted_by_sku(lines)
    gives: dict[str, dict[str, int]] = {}  # warehouse → sku → units it can give
    warehouses: dict[str, Available] = {}
    for sku in wanted:
        for a in stock.get(sku, ()):
            warehouses.setdefault(a.warehouse, a)
            if a.quantity > 0:
                gives.setdefault(a.warehouse, {})[sku] = a.quantity
    missing = {sku: n - sum(g.get(sku, 0) for g in gives.values()) for sku, n in wanted.items()}
    if any(n > 0 for n in missing.values()):
        return Shortage({sku: n for sku, n in missing.items() if n > 0})

    def rank(code: str) -> tuple[int, int, str]:
        w = warehouses[code]
        if policy is Policy.MOST_STOCK:
            return (-sum(gives[code].values()), w.priority, code)
        if policy is Policy.NEAREST:
            near = ship_region is not None and w.region == ship_region
            return (0 if near else 1, w.priority, code)
        return (0, w.priority, code)

    ranked = sorted(gives, key=rank)
    for code in ranked:
        if _covers([code], gives, wanted):
            return _take([code], gives, wanted)
    return _take(_fewest(ranked, gives, wanted), gives, wanted)


def _covers(codes: Sequence[str], gives: Gives, wanted: Mapping[str, int]) -> bool:
    return all(sum(gives[c].get(sku, 0) for c in codes) >= n for sku, n in wanted.items())


def _fewest(ranked: Sequence[str], gives: Gives, wanted: Mapping[str, int]) -> list[str]:
    """The fewest warehouses that together serve the order; the first such set in rank order."""
    if len(ranked) <= EXACT_SPLIT_LIMIT:
        for size in range(2, len(ranked) + 1):
            # combinations() keeps the ranked order, so the first fit is the policy's choice.
            for chosen in combinations(ranked, size):
                if _covers(chosen, gives, wanted):
                    return list(chosen)
        return list(ranked)
    # Too many warehouses to try every set: repeatedly add the warehouse that serves most
    # of what is still missing (ties by rank): a greedy cover, not always the fewest.
    position = {code: i for i, code in enumerate(ranked)}
    remaining = dict(wanted)
    chosen_codes: list[str] = []
    while any(remaining.values()):
        best = max(
            (c for c in ranked if c not in chosen_codes),
            key=lambda c: (
                sum(min(n, gives[c].get(sku, 0)) for sku, n in remaining.items()),
                -position[c],
            ),
        )
        chosen_codes.append(best)
        for sku, n in remaining.items():
            remaining[sku] = max(0, n - gives[best].get(sku, 0))
    return sorted(chosen_codes, key=position.__getitem__)


def _take(chosen: Sequence[str], gives: Gives, wanted: Mapping[str, int]) -> list[Pick]:
    """Each SKU from the chosen warehouses in their order, splitting a line only if it must."""
    picks = []
    for sku, n in wanted.items():
        remaining = n
        for code in chosen:
            take = min(remaining, gives[code].get(sku, 0))
            if take:
                picks.append(Pick(sku, code, take))
                remaining -= take
            if not remaining:
                break
    return sorted(picks, key=lambda p: (p.sku, p.warehouse))
