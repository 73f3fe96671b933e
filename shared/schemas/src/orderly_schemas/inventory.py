"""Commands to and events from the inventory service."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from orderly_schemas import topics
from orderly_schemas.base import Allocation, AwareDatetime, Message, StockLine
from orderly_schemas.checkout import Address


class InventoryCommand(Message):
    topic = topics.INVENTORY_COMMANDS

    order_id: UUID


class ReserveStock(InventoryCommand):
    """Reserve every line, all or nothing."""

    lines: list[StockLine] = Field(min_length=1)
    ship_to: Address | None = None


class ReleaseStock(InventoryCommand):
    """Undo a reservation; a no-op if nothing is reserved for the order."""

    reason: str


class ShipOrder(InventoryCommand):
    """Pick the reserved stock and hand it to the carrier."""

    ship_to: Address


class InventoryEvent(Message):
    topic = topics.INVENTORY_EVENTS

    order_id: UUID
    occurred_at: AwareDatetime


class StockReserved(InventoryEvent):
    allocations: list[Allocation] = Field(min_length=1)


class StockReservationFailed(InventoryEvent):
    reason: str
    short_skus: list[str] = Field(default_factory=list)


class StockReleased(InventoryEvent):
    reason: str


class OrderShipped(InventoryEvent):
    """Stock left the warehouse with a carrier."""

    shipment_id: UUID
    carrier: str
    tracking_number: str


class StockReservationExpired(InventoryEvent):
    """A reservation outlived its time-to-live and was released; the order cannot ship."""

    reason: str
    allocations: list[Allocation] = Field(
        default_factory=list, description="the stock that was held and is available again"
    )


class ShipmentFailed(InventoryEvent):
    reason: str


class ShipmentDelivered(InventoryEvent):
    shipment_id: UUID
    tracking_number: str
    delivered_at: AwareDatetime
