"""Commands to and events from the inventory service."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from orderly_schemas import topics
from orderly_schemas.base import MAX_UNITS, Allocation, AwareDatetime, Message, Sku, StockLine
from orderly_schemas.checkout import Address
from orderly_schemas.personal import SealedPersonalData


class InventoryCommand(Message):
    topic = topics.INVENTORY_COMMANDS

    order_id: UUID


class ReserveStock(InventoryCommand):
    """Reserve every line, all or nothing."""

    lines: list[StockLine] = Field(min_length=1)
    ship_to: Address | None = Field(
        default=None, description="no longer sent (personal data): read from older commands"
    )
    personal: SealedPersonalData | None = Field(
        default=None, description="the ship-to address, sealed (field shipping_address)"
    )


class ReleaseStock(InventoryCommand):
    """Undo a reservation; a no-op if nothing is reserved for the order."""

    reason: str


class ShipOrder(InventoryCommand):
    """Pick the reserved stock and hand it to the carrier; the address is in ``personal``
    (sealed), or in ``ship_to`` in commands sent before personal data was sealed."""

    ship_to: Address | None = Field(
        default=None, description="no longer sent (personal data): read from older commands"
    )
    personal: SealedPersonalData | None = Field(
        default=None, description="the ship-to address, sealed (field shipping_address)"
    )

    @model_validator(mode="after")
    def _has_an_address(self) -> ShipOrder:
        if self.ship_to is None and self.personal is None:
            raise ValueError("a ShipOrder needs an address: personal (sealed) or ship_to")
        return self


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


class Parcel(BaseModel):
    """One shipment of an order: what left one warehouse with one carrier booking."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    shipment_id: UUID
    warehouse: str = Field(min_length=1, max_length=64)
    carrier: str
    tracking_number: str
    lines: list[StockLine] = Field(default_factory=list)


class OrderShipped(InventoryEvent):
    """Stock left the warehouse(s) with a carrier.

    ``shipment_id``, ``carrier`` and ``tracking_number`` name the first parcel;
    ``parcels`` lists every one when the order was split across warehouses.
    """

    shipment_id: UUID
    carrier: str
    tracking_number: str
    parcels: list[Parcel] = Field(default_factory=list)


class StockReservationExpired(InventoryEvent):
    """A reservation outlived its time-to-live and was released; the order cannot ship."""

    reason: str
    allocations: list[Allocation] = Field(
        default_factory=list, description="the stock that was held and is available again"
    )


class ShipmentFailed(InventoryEvent):
    reason: str


class ShipmentDelivered(InventoryEvent):
    """The order's last parcel was delivered (``shipment_id`` names that parcel)."""

    shipment_id: UUID
    tracking_number: str
    delivered_at: AwareDatetime


TrackingStatus = Literal["in_transit", "out_for_delivery", "delivered", "failed"]


class ShipmentTracked(InventoryEvent):
    """The carrier reported a parcel's progress (one event per tracking update)."""

    shipment_id: UUID
    carrier: str
    tracking_number: str
    status: TrackingStatus
    detail: str | None = None


class ReturnLine(BaseModel):
    """Units of one SKU received back from a customer, and whether they can be sold again."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: Sku
    quantity: StrictInt = Field(gt=0, le=10_000)
    condition: Literal["resellable", "damaged"]


class RestockReturn(InventoryCommand):
    """Put returned goods back on the shelf (resellable) or write them off (damaged)."""

    return_id: UUID
    warehouse: str = Field(min_length=1, max_length=64)
    lines: list[ReturnLine] = Field(min_length=1)


class ReturnRestocked(InventoryEvent):
    """Returned goods were restocked or written off, once per return."""

    return_id: UUID
    warehouse: str
    lines: list[ReturnLine] = Field(min_length=1)


class BookReturnParcel(InventoryCommand):
    """Book the carrier to collect goods a customer returns, from the address the order was
    shipped to, and bring them to the warehouse that shipped them.

    Answered with ReturnParcelBooked, or ReturnParcelRefused when no parcel can be booked;
    a re-sent command is answered again with the same parcel.
    """

    return_id: UUID
    lines: list[StockLine] = Field(min_length=1, max_length=200)


class ReturnParcelBooked(InventoryEvent):
    """The carrier will collect the return: its label's tracking number and destination."""

    return_id: UUID
    warehouse: str = Field(min_length=1, max_length=64, description="where the goods go back to")
    carrier: str
    tracking_number: str


class ReturnParcelRefused(InventoryEvent):
    """No return parcel can be booked (the carrier refused it, the order never shipped, or
    the customer's address was erased); support must arrange the return."""

    return_id: UUID
    reason: str


class ReturnParcelTracked(InventoryEvent):
    """The carrier reported a return parcel's progress; ``delivered`` means the goods
    reached the warehouse and wait for inspection (``POST /returns/{id}/restock``)."""

    return_id: UUID
    carrier: str
    tracking_number: str
    status: TrackingStatus
    detail: str | None = None


class ShipReplacement(InventoryCommand):
    """Reserve ``lines`` and ship them as a parcel of their own to the order's address: a
    reshipment of a parcel lost or damaged in transit (a claim), or an exchange's new goods.

    Nothing is charged and the order's own reservation is untouched: the replacement is
    taken from available stock in any warehouse. Answered once per ``replacement_id`` with
    ReplacementShipped, or ReplacementRefused when the stock is short or there is nowhere
    to ship; a re-sent command is answered again with the same outcome. The address is in
    ``personal`` (sealed, field shipping_address) as the order service sends it; ``ship_to``
    is read only from a producer that does not seal.
    """

    replacement_id: UUID
    lines: list[StockLine] = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)
    ship_to: Address | None = Field(
        default=None, description="the address in plaintext, from a producer that does not seal"
    )
    personal: SealedPersonalData | None = Field(
        default=None, description="the ship-to address, sealed (field shipping_address)"
    )

    @model_validator(mode="after")
    def _has_an_address(self) -> ShipReplacement:
        if self.ship_to is None and self.personal is None:
            raise ValueError("a ShipReplacement needs an address: personal (sealed) or ship_to")
        return self


class ReplacementShipped(InventoryEvent):
    """A replacement left the warehouse(s): its parcels (each tracked by ShipmentTracked
    under its ``shipment_id``, like the order's own parcels)."""

    replacement_id: UUID
    parcels: list[Parcel] = Field(min_length=1)


class ReplacementRefused(InventoryEvent):
    """No replacement was shipped: ``short_skus`` lacked stock, or there was no address."""

    replacement_id: UUID
    reason: str
    short_skus: list[str] = Field(default_factory=list)


class ReplacementDelivered(InventoryEvent):
    """The replacement's last parcel was delivered."""

    replacement_id: UUID
    delivered_at: AwareDatetime


class ReplacementFailed(InventoryEvent):
    """A parcel of the replacement was lost or could not be delivered."""

    replacement_id: UUID
    reason: str


class StockEvent(Message):
    """A change of one SKU's stock in one warehouse, not tied to an order (keyed by SKU)."""

    topic = topics.INVENTORY_EVENTS

    sku: Sku
    warehouse: str = Field(min_length=1, max_length=64)
    occurred_at: AwareDatetime


class LowStockDetected(StockEvent):
    """Available stock fell below the safety stock; said once until it recovers."""

    available: StrictInt = Field(ge=-MAX_UNITS, le=MAX_UNITS)
    safety_stock: StrictInt = Field(ge=0, le=MAX_UNITS)


class BackInStock(StockEvent):
    """Available stock is at or above the safety stock again after a LowStockDetected."""

    available: StrictInt = Field(ge=-MAX_UNITS, le=MAX_UNITS)
    safety_stock: StrictInt = Field(ge=0, le=MAX_UNITS)


class StockAdjusted(StockEvent):
    """On-hand stock was corrected: a stock-take, damage, a write-off or a manual fix."""

    quantity_change: StrictInt = Field(
        ge=-MAX_UNITS, le=MAX_UNITS, description="signed units added to on hand"
    )
    on_hand: StrictInt = Field(ge=0, le=MAX_UNITS, description="on hand after the adjustment")
    reason: str
    reference: str | None = Field(default=None, description="stock-take, return or ticket id")
    actor: str


class StockReceived(StockEvent):
    """Goods arrived into on-hand stock: a purchase-order receipt or a transfer's arrival."""

    quantity: StrictInt = Field(gt=0, le=MAX_UNITS)
    on_hand: StrictInt = Field(ge=0, le=MAX_UNITS, description="on hand after the receipt")
    reference: str = Field(description="purchase order number or transfer id")
    actor: str


class TransferLine(BaseModel):
    """Units of one SKU on a transfer; ``received`` and ``damaged`` once it arrives."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: Sku
    quantity: StrictInt = Field(gt=0, le=1_000_000)
    received: StrictInt | None = Field(default=None, ge=0, le=1_000_000)
    damaged: StrictInt | None = Field(default=None, ge=0, le=1_000_000)


class StockTransferred(Message):
    """A transfer between warehouses was dispatched (stock in transit) or received."""

    topic = topics.INVENTORY_EVENTS

    transfer_id: UUID
    status: Literal["dispatched", "received"]
    from_warehouse: str
    to_warehouse: str
    lines: list[TransferLine] = Field(min_length=1)
    occurred_at: AwareDatetime
