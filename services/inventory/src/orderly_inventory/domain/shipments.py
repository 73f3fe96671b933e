"""Shipments: one parcel run per order, picked, handed to a carrier, delivered (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from orderly_schemas.checkout import Address

NO_RESERVED_STOCK = "no reserved stock for order"
#: ShipmentFailed's reason for the order once a ReleaseStock has cancelled its picking.
RELEASED_WHILE_PICKING = "order was released while being picked"
#: ... and once its reservation expired while it was being picked.
EXPIRED_WHILE_PICKING = "stock reservation expired while the order was being picked"


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


class PickingStatus(StrEnum):
    PICKING = "picking"
    SHIPPED = "shipped"
    FAILED = "failed"  # the carrier refused, or no stock was reserved at hand-over
    CANCELLED = "cancelled"  # released or expired before the parcels were handed over


@dataclass(frozen=True)
class Picking:
    """The warehouse picking and packing an order until ``due_at``, then handing it over.

    While PICKING the stock stays reserved and a ReleaseStock still wins; the carrier
    is booked only at hand-over, when the packed parcels leave the warehouse.
    """

    order_id: UUID
    ship_to: Address
    status: PickingStatus
    started_at: datetime
    due_at: datetime
    ended_at: datetime | None = None
    reason: str | None = None  # why it FAILED or was CANCELLED; every later ShipOrder's answer
