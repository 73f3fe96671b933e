"""Return parcels: the carrier collects a customer's return from the address the order was
shipped to and brings it to the warehouse that shipped it (no I/O).

Which warehouse: the one that shipped most of the returned units. Each warehouse of the
order is credited, per returned SKU, with the units it both shipped of that SKU and the
return sends back (the smaller of the two), so a SKU split across warehouses counts for
each as far as the units could have come from there. The warehouse with the most units
wins; a tie goes to the first in alphabetical order. A return none of whose SKUs left a
warehouse with the order has none, and is refused.

A return is booked once: its parcel, or its refusal when none can be booked, is kept
under the return id, and every BookReturnParcel of the return is answered with it. A
parcel's status only moves forward, as a shipment's does (booked → in transit → out for
delivery → delivered or failed), and ends ``received`` once the warehouse restocked the
return, whatever the carrier said last: the goods are on the dock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import cast
from uuid import UUID

from orderly_inventory.domain.errors import InvalidInputError
from orderly_inventory.domain.shipments import ParcelLine, TrackingUpdate
from orderly_schemas.inventory import (
    ReturnParcelBooked,
    ReturnParcelRefused,
    ReturnParcelTracked,
    TrackingStatus,
)

NEVER_SHIPPED = "the order was never shipped by the inventory service: there is nothing to collect"
ADDRESS_ERASED = (
    "the customer's personal data was erased: there is no address to collect the return from"
)
#: An order shipped before the inventory kept the address of every shipped order.
NO_ADDRESS_KEPT = "the order's shipping address was not kept: support must arrange the collection"


def unshipped_reason(skus: Sequence[str]) -> str:
    """The refusal of a return none of whose SKUs the order shipped."""
    return f"the order shipped none of the returned SKUs ({', '.join(sorted(skus))})"


class ReturnParcelStatus(StrEnum):
    BOOKED = "booked"  # the carrier will collect; no tracking update yet
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"  # at the warehouse, by the carrier's word; waits for inspection
    FAILED = "failed"  # the carrier gave up on the parcel
    RECEIVED = "received"  # inspected and restocked (POST /returns/{return_id}/restock)
    REFUSED = "refused"  # no parcel could be booked; ``reason`` says why


#: How far along each status is; a parcel's status only moves to a higher rank.
_PROGRESS = {
    ReturnParcelStatus.BOOKED: 0,
    ReturnParcelStatus.IN_TRANSIT: 1,
    ReturnParcelStatus.OUT_FOR_DELIVERY: 2,
    ReturnParcelStatus.DELIVERED: 3,
    ReturnParcelStatus.FAILED: 3,
    ReturnParcelStatus.RECEIVED: 4,
    ReturnParcelStatus.REFUSED: 4,
}


def return_lines(lines: Sequence[tuple[str, int]]) -> tuple[ParcelLine, ...]:
    """The returned (sku, quantity) lines, one per SKU, in SKU order."""
    units: dict[str, int] = {}
    for sku, quantity in lines:
        units[sku] = units.get(sku, 0) + quantity
    return tuple(ParcelLine(sku, units[sku]) for sku in sorted(units))


def return_warehouse(
    returned: Sequence[ParcelLine], shipped: Mapping[str, Sequence[ParcelLine]]
) -> str | None:
    """Where the return goes back to (see the module's rule); None if no warehouse shipped
    any of it. ``shipped`` is warehouse → the lines of the order that left it."""
    credit: dict[str, int] = {}
    for warehouse, lines in shipped.items():
        sent = {line.sku: line.quantity for line in lines}
        units = sum(min(line.quantity, sent.get(line.sku, 0)) for line in returned)
        if units > 0:
            credit[warehouse] = units
    if not credit:
        return None
    return min(credit, key=lambda w: (-credit[w], w))


@dataclass(frozen=True)
class ReturnParcel:
    """A return's parcel, booked with a carrier; or, REFUSED, why none could be."""

    return_id: UUID
    order_id: UUID
    status: ReturnParcelStatus
    lines: tuple[ParcelLine, ...]
    #: When the BookReturnParcel was first answered (booked or refused).
    booked_at: datetime
    updated_at: datetime
    warehouse: str | None = None  # None only when refused
    carrier: str | None = None
    tracking_number: str | None = None
    reason: str | None = None  # why it was refused
    #: When the carrier reported the current status, and what it said.
    status_at: datetime | None = None
    status_detail: str | None = None

    @property
    def booking(self) -> tuple[str, str, str]:
        """(warehouse, carrier, tracking number) of a booked parcel (not of a refusal)."""
        if self.warehouse is None or self.carrier is None or self.tracking_number is None:
            raise ValueError(f"return {self.return_id} has no parcel: its booking was refused")
        return self.warehouse, self.carrier, self.tracking_number

    def answer(self) -> ReturnParcelBooked | ReturnParcelRefused:
        """The answer to every BookReturnParcel of the return."""
        if self.status is ReturnParcelStatus.REFUSED:
            assert self.reason is not None  # a refusal keeps its reason
            return ReturnParcelRefused(
                order_id=self.order_id,
                occurred_at=self.booked_at,
                return_id=self.return_id,
                reason=self.reason,
            )
        warehouse, carrier, tracking_number = self.booking
        return ReturnParcelBooked(
            order_id=self.order_id,
            occurred_at=self.booked_at,
            return_id=self.return_id,
            warehouse=warehouse,
            carrier=carrier,
            tracking_number=tracking_number,
        )

    def advances(self, update: TrackingUpdate) -> bool:
        """Whether ``update`` moves the parcel forward; a repeated or late report does not."""
        return _PROGRESS[ReturnParcelStatus(update.status.value)] > _PROGRESS[self.status]

    def progress_report(self, update: TrackingUpdate) -> ReturnParcelTracked:
        """ReturnParcelTracked for ``update``, which moved the parcel forward."""
        _, carrier, tracking_number = self.booking
        return ReturnParcelTracked(
            order_id=self.order_id,
            occurred_at=update.occurred_at,
            return_id=self.return_id,
            carrier=carrier,
            tracking_number=tracking_number,
            status=cast(TrackingStatus, update.status.value),  # a carrier's status, never ours
            detail=update.detail,
        )

    def check_restock(self, *, order_id: UUID, warehouse: str) -> None:
        """InvalidInputError naming the field unless a restock of the return at ``warehouse``
        for ``order_id`` fits the parcel: it is unpacked where the carrier brings it."""
        if self.status is ReturnParcelStatus.REFUSED:
            return  # no parcel: the goods came back another way
        if order_id != self.order_id:
            raise InvalidInputError(
                ("order_id",),
                f"return {self.return_id} is of order {self.order_id}, not {order_id}",
                value=str(order_id),
            )
        if warehouse != self.warehouse:
            raise InvalidInputError(
                ("warehouse",),
                f"the parcel of return {self.return_id} ({self.tracking_number}) goes to"
                f" warehouse {self.warehouse!r}: restock it there",
                value=warehouse,
            )
