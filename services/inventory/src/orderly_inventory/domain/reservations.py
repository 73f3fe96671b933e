"""Reservations: stock held for an order until it ships, is released or expires (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

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


@dataclass(frozen=True)
class ReservationRequest:
    """How an order's ReserveStock was answered."""

    outcome: RequestOutcome
    reason: str | None
    short_skus: list[str]


#: Recorded by a ReleaseStock that finds no ReserveStock answered yet.
RELEASE_TOMBSTONE = ReservationRequest(RequestOutcome.RELEASED, RELEASED_BEFORE_RESERVED, [])


def expiry_reason(time_to_live: timedelta) -> str:
    """Why an expired reservation was released, for StockReservationExpired."""
    seconds = round(time_to_live.total_seconds())
    return f"reservation expired: stock was held {seconds}s without the order shipping"
