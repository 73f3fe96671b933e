"""Reservations: stock held for an order until it ships, is released or expires (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from orderly_inventory.domain.allocation import Pick
from orderly_schemas.base import Allocation
from orderly_schemas.inventory import (
    StockReleased,
    StockReservationExpired,
    StockReservationFailed,
    StockReserved,
)

#: The answer to a ReserveStock that arrives after the order's ReleaseStock.
RELEASED_BEFORE_RESERVED = "order was released before stock was reserved"


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    RELEASED = "released"
    SHIPPED = "shipped"
    EXPIRED = "expired"


class RequestOutcome(StrEnum):
    """The answer given to an order's first ReserveStock, repeated to every later one.

    RELEASED is a tombstone: ReleaseStock came first, so no ReserveStock may reserve later.
    """

    RESERVED = "reserved"
    FAILED = "failed"
    RELEASED = "released"


@dataclass(frozen=True)
class Reservation:
    """Units of one SKU held in one warehouse for an order."""

    sku: str
    warehouse: str
    quantity: int
    status: ReservationStatus


@dataclass(frozen=True)
class Hold:
    """Everything an order holds (its RESERVED reservations) and until when."""

    order_id: UUID
    reservations: list[Reservation]
    reserved_at: datetime
    expires_at: datetime

    @property
    def time_to_live(self) -> timedelta:
        return self.expires_at - self.reserved_at

    def expiry(self, now: datetime) -> StockReservationExpired | None:
        """The announcement that the hold expired, giving its stock back; None until it is due."""
        if self.expires_at > now:
            return None
        return StockReservationExpired(
            order_id=self.order_id,
            occurred_at=now,
            reason=expiry_reason(self.time_to_live),
            allocations=allocations(self.reservations),
        )


@dataclass(frozen=True)
class ReservationRequest:
    """How an order's ReserveStock was answered."""

    outcome: RequestOutcome
    reason: str | None
    short_skus: list[str]

    def answer(
        self, order_id: UUID, *, held: Iterable[Reservation | Pick] = (), at: datetime
    ) -> StockReserved | StockReservationFailed:
        """The event that answers the order's ReserveStock: StockReserved naming ``held``.

        A failed request, and the tombstone a ReleaseStock left, answer
        StockReservationFailed with their reason.
        """
        if self.outcome is RequestOutcome.RESERVED:
            return StockReserved(order_id=order_id, occurred_at=at, allocations=allocations(held))
        return StockReservationFailed(
            order_id=order_id,
            occurred_at=at,
            reason=self.reason or "insufficient stock",
            short_skus=self.short_skus,
        )


#: Recorded by a ReleaseStock that finds no ReserveStock answered yet.
RELEASE_TOMBSTONE = ReservationRequest(RequestOutcome.RELEASED, RELEASED_BEFORE_RESERVED, [])


def allocations(held: Iterable[Reservation | Pick]) -> list[Allocation]:
    """What an order holds, as the events name it: units of a SKU in a warehouse."""
    return [Allocation(sku=h.sku, warehouse=h.warehouse, quantity=h.quantity) for h in held]


def release_acknowledgement(order_id: UUID, reason: str, *, at: datetime) -> StockReleased:
    """The answer to every ReleaseStock, whether or not anything was still held."""
    return StockReleased(order_id=order_id, occurred_at=at, reason=reason)


def expiry_reason(time_to_live: timedelta) -> str:
    """Why an expired reservation was released, for StockReservationExpired."""
    seconds = round(time_to_live.total_seconds())
    return f"reservation expired: stock was held {seconds}s without the order shipping"
