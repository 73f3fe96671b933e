"""What the after-sales report counts, and in which period (no I/O).

Every number of the report is of one period of whole UTC days, and each thing counts in the
period of one moment of its own:

- a return by its receipt at the warehouse (ReturnReceived): by reason, by SKU and by
  warehouse, its units as received whatever their condition; a SKU's return rate is its
  units received ÷ its units sold (on orders confirmed, OrderConfirmed) in the same period;
  ``requested`` counts the returns asked for in the period (ReturnRequested);
- its money by its completion (ReturnCompleted): refunded, restocking fees, and for an
  exchange the price difference charged, per currency and never summed across currencies;
- an exchange asked for by its request; its replacement shipped, or its fall back to a
  refund (ReturnReplacementUnavailable), when that happened;
- a claim (OrderClaimed) when it was settled: by carrier, kind and resolution;
- a case opened by its opening (by category); an agreement by its due time — met if answered
  (resolved) by then, missed if marked missed or answered (resolved) later, not counted while
  it is still pending; a case support opened is its own first response and counts for no
  first-response figure; the time to the first response by when it was given, to the
  resolution (or the closing, if the case was closed unresolved) by when that happened, in
  plain elapsed time; a satisfaction score by when it was given;
- feedback by when it was first given, with its rating as it stands.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID


class Line(Protocol):
    @property
    def sku(self) -> str: ...

    @property
    def quantity(self) -> int: ...


def units_by_sku(lines: Iterable[Line]) -> tuple[list[str], list[int]]:
    """The SKUs of ``lines`` in order, and the units of each (a SKU may be on several
    lines: an order's, or a return's resellable and damaged units)."""
    units: dict[str, int] = {}
    for line in lines:
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    skus = sorted(units)
    return skus, [units[sku] for sku in skus]


@dataclass(frozen=True)
class ReturnSeen:
    """What every event of a return says of it: its order, why it is sent back, and whether
    the customer is getting other goods in exchange (as the event says: 'refund' once an
    exchange fell back to one)."""

    return_id: UUID
    order_id: UUID
    reason: str
    exchange: bool
