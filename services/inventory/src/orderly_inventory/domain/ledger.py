"""The stock ledger: movements, the levels that follow from them, low-stock crossings (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from orderly_schemas.inventory import BackInStock, LowStockDetected, StockReceived

#: The actor of movements the saga's commands cause.
SAGA_ACTOR = "order-saga"
#: The actor of movements the service's own jobs cause (expiry, hand-over).
SYSTEM_ACTOR = "inventory-service"


class MovementKind(StrEnum):
    OPENING = "opening"  # opening stock, from the ERP import or the ledger's introduction
    RECEIPT = "receipt"  # goods received against a purchase order
    RESERVATION = "reservation"  # held for an order
    RELEASE = "release"  # an order's hold given back (cancelled, compensated)
    EXPIRY = "expiry"  # an order's hold given back because it outlived its time-to-live
    SHIPMENT = "shipment"  # left with a carrier: off the shelf and out of the hold
    RETURN = "return"  # a customer's return put back on the shelf
    WRITE_OFF = "write_off"  # units received but not resellable (a damaged return or transfer)
    ADJUSTMENT = "adjustment"  # a stock-take variance or a manual correction
    TRANSFER_OUT = "transfer_out"  # left the source warehouse on a transfer
    TRANSFER_IN_TRANSIT = "transfer_in_transit"  # on its way to the destination warehouse
    TRANSFER_IN = "transfer_in"  # arrived at the destination warehouse


@dataclass(frozen=True)
class Movement:
    """One change to one SKU's stock in one warehouse, with why, what caused it and who.

    The deltas are signed; ``quantity`` is the (positive) number of units concerned.
    """

    sku: str
    warehouse: str
    kind: MovementKind
    quantity: int
    reason: str
    actor: str
    reference: str | None = None
    on_hand: int = 0
    reserved: int = 0
    in_transit: int = 0


@dataclass(frozen=True)
class Level:
    """One SKU's stock in one warehouse after a movement."""

    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    in_transit: int
    safety_stock: int
    low_stock: bool  # the flag as it was before the movement

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def arrival(self, quantity: int, *, reference: str, actor: str, at: datetime) -> StockReceived:
        """StockReceived for ``quantity`` units that arrived on this level's shelf."""
        return StockReceived(
            sku=self.sku,
            warehouse=self.warehouse,
            occurred_at=at,
            quantity=quantity,
            on_hand=self.on_hand,
            reference=reference,
            actor=actor,
        )

    def alert(self, *, at: datetime) -> LowStockDetected | BackInStock | None:
        """The alert this level calls for: only when it crossed its safety stock, else None."""
        crossed = crossing(self)
        if crossed is None:
            return None
        alert_type = LowStockDetected if crossed is Crossing.LOW else BackInStock
        return alert_type(
            sku=self.sku,
            warehouse=self.warehouse,
            occurred_at=at,
            available=self.available,
            safety_stock=self.safety_stock,
        )


class Crossing(StrEnum):
    LOW = "low"  # available fell below the safety stock: LowStockDetected
    RECOVERED = "recovered"  # available is back at or above it: BackInStock


def crossing(level: Level) -> Crossing | None:
    """Whether ``level`` crossed its safety stock, given the flag the last alert left.

    Alerts fire on crossings only, not on every movement below the line.
    """
    below = level.available < level.safety_stock
    if below and not level.low_stock:
        return Crossing.LOW
    if not below and level.low_stock:
        return Crossing.RECOVERED
    return None


@dataclass(frozen=True)
class Discrepancy:
    """A stock level that does not equal the sum of its movements."""

    sku: str
    warehouse: str
    field: str  # on_hand, reserved or in_transit
    level: int
    ledger: int

    def __str__(self) -> str:
        return (
            f"{self.sku} at {self.warehouse}: {self.field} is {self.level}"
            f" but its movements add up to {self.ledger}"
        )
