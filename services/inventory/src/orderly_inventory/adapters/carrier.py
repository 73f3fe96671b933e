"""Carriers: the port the service ships through, and the simulated carrier of the suite.

A carrier is booked once per parcel (one per warehouse of an order or of a replacement),
and once per return to collect it, and later reports each parcel's progress by webhook
(``POST /carriers/{carrier}/webhooks``, signed, see ``webhook_signature``). The port has
both sides: ``book``, ``book_replacement``, ``book_return`` and ``cancel`` going out,
``read_tracking`` translating the carrier's webhook body.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol
from uuid import UUID

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import delete, select

from orderly_inventory.adapters.orm import sim_carrier_updates as updates
from orderly_inventory.domain.shipments import (
    CarrierRefusedError,
    Consignment,
    ParcelLine,
    PlannedParcel,
    ShipmentStatus,
    TrackingUpdate,
)
from orderly_kit import webhook_sender
from orderly_kit.clock import Clock, utc_now
from orderly_kit.db import Database, insert_unless_exists
from orderly_schemas.checkout import Address

__all__ = [
    "Carrier",
    "CarrierRefusedError",
    "Consignment",
    "ReturnSchedule",
    "SimulatedCarrier",
    "TrackingSchedule",
    "TrackingWebhook",
]


class Carrier(Protocol):
    name: str

    async def book(
        self, *, order_id: UUID, warehouse: str, ship_to: Address, lines: Sequence[ParcelLine]
    ) -> Consignment:
        """Book one parcel of an order (what ``warehouse`` sends); returns its tracking number.

        Idempotent per (order, warehouse): booking again returns the same consignment.
        Raises CarrierRefusedError when the carrier declines the booking for good; any
        other exception is taken as transient and the command is retried.
        """
        ...

    async def book_replacement(
        self,
        *,
        order_id: UUID,
        replacement_id: UUID,
        warehouse: str,
        ship_to: Address,
        lines: Sequence[ParcelLine],
    ) -> Consignment:
        """Book one parcel of a replacement (what ``warehouse`` sends in place of goods lost
        or exchanged); a parcel of its own, apart from the order's.

        Idempotent per (replacement, warehouse); refusals and errors as ``book``'s.
        """
        ...

    async def book_return(
        self,
        *,
        order_id: UUID,
        return_id: UUID,
        warehouse: str,
        collect_from: Address,
        lines: Sequence[ParcelLine],
    ) -> Consignment:
        """Book the collection of a return from ``collect_from``, to ``warehouse``.

        Idempotent per return: booking again returns the same consignment. Raises
        CarrierRefusedError when the carrier declines for good; any other exception is
        taken as transient and the command is retried.
        """
        ...

    async def cancel(self, consignment: Consignment) -> None:
        """Void a booking whose parcel will not leave (another parcel of the order was refused)."""
        ...

    def read_tracking(self, body: bytes) -> TrackingUpdate:
        """Translate the carrier's (verified) webhook body; a ValidationError if unreadable."""
        ...


TrackingStatus = Literal["in_transit", "out_for_delivery", "delivered", "failed"]


class TrackingWebhook(BaseModel):
    """The body of the simulated carrier's tracking webhook: one update of one parcel."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    delivery_id: UUID = Field(description="the same on every retry of this update")
    tracking_number: str = Field(min_length=1, max_length=64)
    reference: UUID | None = Field(default=None, description="the shipper's order id")
    status: TrackingStatus
    occurred_at: AwareDatetime
    detail: str | None = Field(default=None, max_length=2000)


@dataclass(frozen=True)
class TrackingSchedule:
    """When the simulated carrier reports a parcel's progress, counted from its booking."""

    in_transit_after: timedelta = timedelta(seconds=1)
    out_for_delivery_after: timedelta = timedelta(seconds=3)
    delivered_after: timedelta = timedelta(seconds=5)

    def offsets(self) -> list[tuple[ShipmentStatus, timedelta]]:
        """Each report's offset, none later than the delivery (which ends the parcel's run)."""
        last = self.delivered_after
        return [
            (ShipmentStatus.IN_TRANSIT, min(self.in_transit_after, last)),
            (ShipmentStatus.OUT_FOR_DELIVERY, min(self.out_for_delivery_after, last)),
            (ShipmentStatus.DELIVERED, last),
        ]


@dataclass(frozen=True)
class ReturnSchedule:
    """When the simulated carrier reports a return parcel's progress, counted from its
    booking: collected and in transit, then delivered to the warehouse."""

    in_transit_after: timedelta = timedelta(seconds=1)
    delivered_after: timedelta = timedelta(seconds=5)

    def offsets(self) -> list[tuple[ShipmentStatus, timedelta]]:
        """Each report's offset, none later than the delivery."""
        last = self.delivered_after
        return [
            (ShipmentStatus.IN_TRANSIT, min(self.in_transit_after, last)),
            (ShipmentStatus.DELIVERED, last),
        ]


class SimulatedCarrier:
    """A carrier with its own durable record (``sim_carrier_updates``), committed on its own.

    Booking is deterministic: the tracking number ("SP" + 12 hex digits) is derived
    from (carrier, order, warehouse), a replacement's from (carrier, replacement,
    warehouse), a return's ("SR" + 12 hex digits) from (carrier, return), so a booking
    retried after the shipper's transaction rolled back gets the same number. Each
    booking schedules the parcel's tracking updates (``TrackingSchedule``, a replacement's
    too; a return's ``ReturnSchedule``), which ``send_due_updates`` POSTs, signed, to the
    shipper's webhook.

    Test hooks, driven by the ship-to (or collection) ``postal_code``:
    ``REFUSED_POSTAL_CODE`` (00000) refuses the booking (the saga's "shipment fails"
    path, and a return the carrier will not collect); ``UNDELIVERABLE_POSTAL_CODE``
    (00001) books, then the parcel fails in transit instead of being delivered;
    ``LOST_ONCE_POSTAL_CODE`` (00002) loses an order's own parcels the same way, while a
    replacement sent to it arrives (a claim's reshipment, end to end).
    """

    REFUSED_POSTAL_CODE: Final = "00000"
    UNDELIVERABLE_POSTAL_CODE: Final = "00001"
    LOST_ONCE_POSTAL_CODE: Final = "00002"

    def __init__(
        self,
        database: Database,
        name: str = "SimPost",
        *,
        schedule: TrackingSchedule | None = None,
        return_schedule: ReturnSchedule | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.name = name
        self._database = database
        self.schedule = schedule or TrackingSchedule()
        self.return_schedule = return_schedule or ReturnSchedule()
        #: The service's: when a parcel is booked, and so when each of its updates is due.
        self.clock = clock
        self.sender = webhook_sender.WebhookSender(
            database,
            name=name,
            table=updates,
            due="next_attempt_at",
            body=_tracking_webhook,
            describe=_describe,
            owner=updates.c.carrier == name,
            in_order_of="tracking_number",
            clock=clock,
        )

    async def book(
        self, *, order_id: UUID, warehouse: str, ship_to: Address, lines: Sequence[ParcelLine]
    ) -> Consignment:
        del lines
        return await self._book_parcel(
            tracking_number(self.name, order_id, warehouse), order_id, ship_to, replacement=False
        )

    async def book_replacement(
        self,
        *,
        order_id: UUID,
        replacement_id: UUID,
        warehouse: str,
        ship_to: Address,
        lines: Sequence[ParcelLine],
    ) -> Consignment:
        del lines
        return await self._book_parcel(
            replacement_tracking_number(self.name, replacement_id, warehouse),
            order_id,
            ship_to,
            replacement=True,
        )

    async def _book_parcel(
        self, number: str, order_id: UUID, ship_to: Address, *, replacement: bool
    ) -> Consignment:
        """Book a parcel to ``ship_to`` under ``number``, by the postal-code hooks above."""
        postal_code = ship_to.postal_code.strip()
        if postal_code == self.REFUSED_POSTAL_CODE:
            raise CarrierRefusedError(
                f"{self.name} does not deliver to postal code {self.REFUSED_POSTAL_CODE}"
            )
        lost = postal_code == self.UNDELIVERABLE_POSTAL_CODE or (
            postal_code == self.LOST_ONCE_POSTAL_CODE and not replacement
        )
        reports = []
        for status, offset in self.schedule.offsets():
            detail = None
            if status is ShipmentStatus.DELIVERED and lost:
                status = ShipmentStatus.FAILED
                detail = f"no such address: {self.name} cannot deliver to postal code {postal_code}"
            reports.append((status, offset, detail))
        return await self._schedule(number, order_id, reports)

    async def book_return(
        self,
        *,
        order_id: UUID,
        return_id: UUID,
        warehouse: str,
        collect_from: Address,
        lines: Sequence[ParcelLine],
    ) -> Consignment:
        del warehouse, lines
        if collect_from.postal_code.strip() == self.REFUSED_POSTAL_CODE:
            raise CarrierRefusedError(f"{self.name} does not collect returns from this postal code")
        number = return_tracking_number(self.name, return_id)
        reports = [(status, offset, None) for status, offset in self.return_schedule.offsets()]
        return await self._schedule(number, order_id, reports)

    async def _schedule(
        self,
        number: str,
        order_id: UUID,
        reports: Sequence[tuple[ShipmentStatus, timedelta, str | None]],
    ) -> Consignment:
        """Record the parcel's updates, each due its offset after now; its consignment."""
        booked_at = self.clock()
        rows = [
            {
                "delivery_id": _delivery_id(self.name, number, status),
                "carrier": self.name,
                "tracking_number": number,
                "order_id": order_id,
                "status": status.value,
                "detail": detail,
                "due_at": booked_at + offset,
                "next_attempt_at": booked_at + offset,
            }
            for status, offset, detail in reports
        ]
        async with self._database.engine.begin() as conn:
            # Booked before (a retry): the first booking's schedule stands.
            await conn.execute(insert_unless_exists(updates, tuple(rows[0])), rows)
            due = await conn.scalar(
                select(updates.c.due_at)
                .where(updates.c.tracking_number == number)
                .order_by(updates.c.id.desc())
                .limit(1)
            )
        return Consignment(self.name, number, expected_delivery_at=due)

    async def cancel(self, consignment: Consignment) -> None:
        async with self._database.engine.begin() as conn:
            await conn.execute(
                delete(updates).where(
                    updates.c.tracking_number == consignment.tracking_number,
                    updates.c.sent_at.is_(None),
                )
            )

    def read_tracking(self, body: bytes) -> TrackingUpdate:
        hook = TrackingWebhook.model_validate_json(body)
        return TrackingUpdate(
            delivery_id=str(hook.delivery_id),
            tracking_number=hook.tracking_number,
            status=ShipmentStatus(hook.status),
            occurred_at=hook.occurred_at,
            detail=hook.detail,
            order_id=hook.reference,
        )

    async def send_due_updates(
        self,
        client: httpx.AsyncClient,
        *,
        url: str,
        secret: str,
        now: datetime | None = None,
        batch: int = webhook_sender.BATCH,
    ) -> int:
        """POST the tracking updates that are due, signed with ``secret``; how many were taken.

        Only the earliest pending update of each parcel is taken, so a parcel's updates
        arrive in order; leases, retries and giving up are ``orderly_kit.webhook_sender``'s.
        """
        return await self.sender.send_due(client, url=url, secret=secret, now=now, batch=batch)


async def book_each(
    carrier: Carrier,
    parcels: Sequence[PlannedParcel],
    book: Callable[[PlannedParcel], Awaitable[Consignment]],
) -> list[Consignment]:
    """Book every parcel with ``book`` (one booking of ``carrier``), or none: when the carrier
    refuses one, the bookings made before it are cancelled and its refusal is raised."""
    booked: list[Consignment] = []
    try:
        for parcel in parcels:
            booked.append(await book(parcel))
    except CarrierRefusedError:
        for consignment in booked:
            await carrier.cancel(consignment)
        raise
    return booked


def tracking_number(carrier: str, order_id: UUID, warehouse: str) -> str:
    """The simulated carrier's tracking number of an order's parcel from ``warehouse``."""
    digest = hashlib.sha256(f"{carrier}:{order_id}:{warehouse}".encode()).hexdigest()
    return "SP" + digest[:12].upper()


def replacement_tracking_number(carrier: str, replacement_id: UUID, warehouse: str) -> str:
    """The simulated carrier's tracking number of a replacement's parcel from ``warehouse``."""
    digest = hashlib.sha256(f"{carrier}:replacement:{replacement_id}:{warehouse}".encode())
    return "SP" + digest.hexdigest()[:12].upper()


def return_tracking_number(carrier: str, return_id: UUID) -> str:
    """The simulated carrier's tracking number of a return's parcel."""
    digest = hashlib.sha256(f"{carrier}:return:{return_id}".encode()).hexdigest()
    return "SR" + digest[:12].upper()


def _delivery_id(carrier: str, number: str, status: ShipmentStatus) -> UUID:
    # Derived, so that a booking retried schedules the same updates, not new ones.
    return uuid.uuid5(uuid.NAMESPACE_URL, f"orderly-sim-carrier:{carrier}:{number}:{status.value}")


def _tracking_webhook(row: Mapping[str, Any]) -> bytes:
    return (
        TrackingWebhook(
            delivery_id=row["delivery_id"],
            tracking_number=row["tracking_number"],
            reference=row["order_id"],
            status=row["status"],
            occurred_at=row["due_at"],
            detail=row["detail"],
        )
        .model_dump_json()
        .encode()
    )


def _describe(row: Mapping[str, Any]) -> str:
    return f"tracking update {row['status']} of parcel {row['tracking_number']}"
