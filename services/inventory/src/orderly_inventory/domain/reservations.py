"""Reservations: stock held for an order until it ships or is released (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    RELEASED = "released"
    SHIPPED = "shipped"


class RequestOutcome(StrEnum):
    """The answer given to an order's first ReserveStock, repeated to every later one."""

    RESERVED = "reserved"
    FAILED = "failed"


@dataclass(frozen=True)
class Reservation:
    """Units of one SKU held in one warehouse for an order."""

    sku: str
    warehouse: str
    quantity: int
    status: ReservationStatus


@dataclass(frozen=True)
class ReservationRequest:
    """How an order's ReserveStock was answered."""

    outcome: RequestOutcome
    reason: str | None
    short_skus: list[str]
