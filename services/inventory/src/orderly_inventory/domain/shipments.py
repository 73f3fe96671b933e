"""Shipments: one parcel run per order, handed to a carrier and later delivered (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

NO_RESERVED_STOCK = "no reserved stock for order"


class ShipmentStatus(StrEnum):
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Shipment:
    shipment_id: UUID
    order_id: UUID
    carrier: str
    tracking_number: str
    status: ShipmentStatus
    shipped_at: datetime
    deliver_after: datetime
    delivered_at: datetime | None = None


class CarrierRefusedError(Exception):
    """The carrier declined to carry the order; retrying the same booking will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ShipmentFailure:
    """A refused booking: the order's answer to every later ShipOrder."""

    order_id: UUID
    carrier: str
    reason: str
    failed_at: datetime
