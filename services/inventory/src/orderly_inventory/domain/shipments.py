"""Shipments: an order's parcels, one per warehouse, picked, handed to a carrier, tracked (no I/O).

An order whose stock was reserved in several warehouses leaves as several parcels,
each with its own carrier booking and tracking number. The carrier then reports each
parcel's progress (in transit, out for delivery, delivered, or failed); a parcel's
status only ever moves forward, so a repeated or late report changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import cast
from uuid import UUID, uuid4

from orderly_inventory.domain.allocation import Pick
from orderly_inventory.domain.reservations import Reservation
from orderly_schemas.base import StockLine
from orderly_schemas.checkout import Address
from orderly_schemas.inventory import (
    OrderShipped,
    Parcel,
    ShipmentDelivered,
    ShipmentFailed,
    ShipmentTracked,
    TrackingStatus,
)

NO_RESERVED_STOCK = "no reserved stock for order"
ADDRESS_ERASED = "the customer's personal data was erased: there is no address to ship to"
#: ShipmentFailed's reason for the order once a ReleaseStock has cancelled its picking.
RELEASED_WHILE_PICKING = "order was released while being picked"
#: ... and once its reservation expired while it was being picked.
EXPIRED_WHILE_PICKING = "stock reservation expired while the order was being picked"
#: The warehouse the migration gave a shipment made before orders were split into parcels,
#: when the order's stock came from several warehouses (or none is recorded): that one
#: consignment carried everything the order shipped.
UNSPLIT_WAREHOUSE = "(unsplit)"


class ShipmentStatus(StrEnum):
    SHIPPED = "shipped"  # handed to the carrier; no tracking update yet
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    FAILED = "failed"  # the carrier gave up on the parcel (lost, undeliverable)


#: How far along each status is; a parcel's status only moves to a higher rank.
_PROGRESS = {
    ShipmentStatus.SHIPPED: 0,
    ShipmentStatus.IN_TRANSIT: 1,
    ShipmentStatus.OUT_FOR_DELIVERY: 2,
    ShipmentStatus.DELIVERED: 3,
    ShipmentStatus.FAILED: 3,
}


@dataclass(frozen=True)
class ParcelLine:
    """Units of one SKU in a parcel."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class PlannedParcel:
    """What one warehouse sends for an order: one carrier booking."""

    warehouse: str
    lines: list[ParcelLine]


def plan_parcels(held: Iterable[Reservation | Pick]) -> list[PlannedParcel]:
    """One parcel per warehouse holding the stock (an order's, or a replacement's), in
    warehouse order, lines by SKU."""
    by_warehouse: dict[str, list[ParcelLine]] = {}
    for r in sorted(held, key=lambda r: (r.warehouse, r.sku)):
        by_warehouse.setdefault(r.warehouse, []).append(ParcelLine(r.sku, r.quantity))
    return [PlannedParcel(w, lines) for w, lines in by_warehouse.items()]


def shipment_plan(
    order_id: UUID, held: Sequence[Reservation], *, at: datetime
) -> list[PlannedParcel] | ShipmentFailed:
    """The parcels the order's held stock leaves as; ShipmentFailed when it holds none."""
    if not held:
        return ShipmentFailed(order_id=order_id, occurred_at=at, reason=NO_RESERVED_STOCK)
    return plan_parcels(held)


@dataclass(frozen=True)
class Shipment:
    """One parcel of an order: what left one warehouse with one carrier booking, for the
    order itself or for one of its replacements (``replacement_id``)."""

    shipment_id: UUID
    order_id: UUID
    warehouse: str
    carrier: str
    tracking_number: str
    status: ShipmentStatus
    shipped_at: datetime
    #: When the carrier expects to deliver, if it said at booking.
    expected_delivery_at: datetime | None = None
    #: When the carrier reported the current status (None until its first report).
    status_at: datetime | None = None
    status_detail: str | None = None
    delivered_at: datetime | None = None
    #: The replacement it carries (``domain.replacements``); None for the order's own parcels.
    replacement_id: UUID | None = None

    @property
    def ended(self) -> bool:
        return self.status in (ShipmentStatus.DELIVERED, ShipmentStatus.FAILED)

    def announced(self, lines: Sequence[ParcelLine]) -> Parcel:
        """The parcel as the events that list it name it, with its ``lines``."""
        return Parcel(
            shipment_id=self.shipment_id,
            warehouse=self.warehouse,
            carrier=self.carrier,
            tracking_number=self.tracking_number,
            lines=[StockLine(sku=line.sku, quantity=line.quantity) for line in lines],
        )


@dataclass(frozen=True)
class TrackingUpdate:
    """A carrier's report of one parcel's progress, as read from its webhook."""

    delivery_id: str  # the carrier's id of this report: a report is applied once
    tracking_number: str
    status: ShipmentStatus
    occurred_at: datetime
    detail: str | None = None
    #: The shipper's reference the carrier echoes back (the order id), if it does.
    order_id: UUID | None = None


def advances(shipment: Shipment, update: TrackingUpdate) -> bool:
    """Whether ``update`` moves the parcel forward; a repeated or late report does not.

    A delivered or failed parcel stays so; in transit never follows out for delivery.
    """
    return _PROGRESS[update.status] > _PROGRESS[shipment.status]


def tracking_report(
    tracked: Shipment, update: TrackingUpdate
) -> list[ShipmentTracked | ShipmentFailed]:
    """What a parcel moved forward by ``update`` (see ``advances``) announces.

    ShipmentTracked for the step, and ShipmentFailed naming the parcel when the
    carrier gave up on it. ``tracked`` is the parcel after the update.
    """
    report: list[ShipmentTracked | ShipmentFailed] = [tracking_step(tracked, update)]
    if tracked.status is ShipmentStatus.FAILED:
        report.append(
            ShipmentFailed(
                order_id=tracked.order_id,
                occurred_at=update.occurred_at,
                reason=failure_reason(tracked, update.detail),
            )
        )
    return report


def tracking_step(tracked: Shipment, update: TrackingUpdate) -> ShipmentTracked:
    """ShipmentTracked for the step ``update`` moved the parcel (``tracked``, after it) forward:
    what every parcel announces, an order's or a replacement's."""
    return ShipmentTracked(
        order_id=tracked.order_id,
        occurred_at=update.occurred_at,
        shipment_id=tracked.shipment_id,
        carrier=tracked.carrier,
        tracking_number=tracked.tracking_number,
        status=cast(TrackingStatus, update.status.value),  # never SHIPPED: it advanced
        detail=update.detail,
    )


def delivery_notice(
    parcels: Sequence[Shipment], update: TrackingUpdate
) -> ShipmentDelivered | None:
    """ShipmentDelivered once every parcel of the order is delivered; None before.

    Named for the parcel delivered last by the carrier's clock, which need not be the
    one ``update`` (the last report to arrive) delivered.
    """
    if not parcels or any(p.status is not ShipmentStatus.DELIVERED for p in parcels):
        return None
    last = max(parcels, key=lambda p: p.delivered_at or update.occurred_at)
    delivered_at = last.delivered_at or update.occurred_at
    return ShipmentDelivered(
        order_id=last.order_id,
        occurred_at=delivered_at,
        shipment_id=last.shipment_id,
        tracking_number=last.tracking_number,
        delivered_at=delivered_at,
    )


def failure_reason(shipment: Shipment, detail: str | None) -> str:
    """ShipmentFailed's reason for a parcel the carrier gave up on."""
    return (
        f"parcel {shipment.tracking_number} from warehouse {shipment.warehouse} failed in"
        f" transit with {shipment.carrier}: {detail or 'the carrier gave no reason'}"
    )


def overall_status(parcels: Iterable[Shipment]) -> ShipmentStatus:
    """An order's shipment status: failed if any parcel failed, else its least advanced parcel's."""
    statuses = [p.status for p in parcels]
    if ShipmentStatus.FAILED in statuses:
        return ShipmentStatus.FAILED
    return min(statuses, key=lambda s: _PROGRESS[s])


def lines_of(parcel: Shipment, shipped: Mapping[str, list[ParcelLine]]) -> list[ParcelLine]:
    """The parcel's lines, given the order's shipped lines per warehouse."""
    if parcel.warehouse == UNSPLIT_WAREHOUSE:  # one consignment carried the whole order
        return sorted((line for lines in shipped.values() for line in lines), key=lambda x: x.sku)
    return list(shipped.get(parcel.warehouse, []))


def shipping_notice(
    parcels: Sequence[Shipment], shipped: Mapping[str, list[ParcelLine]]
) -> OrderShipped:
    """OrderShipped naming the first parcel, and listing every parcel with its lines.

    ``shipped`` is the order's shipped lines per warehouse (see ``lines_of``).
    """
    first = parcels[0]
    return OrderShipped(
        order_id=first.order_id,
        occurred_at=first.shipped_at,
        shipment_id=first.shipment_id,
        carrier=first.carrier,
        tracking_number=first.tracking_number,
        parcels=[p.announced(lines_of(p, shipped)) for p in parcels],
    )


@dataclass(frozen=True)
class Consignment:
    """A carrier's receipt for one parcel handed over."""

    carrier: str
    tracking_number: str
    expected_delivery_at: datetime | None = None


def handed_over(
    order_id: UUID,
    planned: Sequence[PlannedParcel],
    booked: Sequence[Consignment],
    *,
    at: datetime,
    replacement_id: UUID | None = None,
) -> list[Shipment]:
    """The parcels that left at ``at``, each ``planned`` one with its booking (in order);
    the order's own, or those of its replacement ``replacement_id``."""
    return [
        Shipment(
            shipment_id=uuid4(),
            order_id=order_id,
            warehouse=parcel.warehouse,
            carrier=consignment.carrier,
            tracking_number=consignment.tracking_number,
            status=ShipmentStatus.SHIPPED,
            shipped_at=at,
            expected_delivery_at=consignment.expected_delivery_at,
            replacement_id=replacement_id,
        )
        for parcel, consignment in zip(planned, booked, strict=True)
    ]


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

    def answer(self, at: datetime) -> ShipmentFailed:
        """ShipmentFailed with the carrier's reason: the answer to every ShipOrder of the order."""
        return ShipmentFailed(order_id=self.order_id, occurred_at=at, reason=self.reason)


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
    ship_to: Address | None  # None once the customer's personal data was erased
    status: PickingStatus
    started_at: datetime
    due_at: datetime
    ended_at: datetime | None = None
    reason: str | None = None  # why it FAILED or was CANCELLED; every later ShipOrder's answer

    def answer(self, at: datetime) -> ShipmentFailed | None:
        """The answer to a ShipOrder once picking ended unshipped; None while still picking."""
        if self.status is PickingStatus.PICKING:
            return None
        return ShipmentFailed(
            order_id=self.order_id, occurred_at=at, reason=self.reason or NO_RESERVED_STOCK
        )
