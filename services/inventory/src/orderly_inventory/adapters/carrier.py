"""Carriers: the port the service ships through, and the simulated carrier of the suite.

A carrier is booked once per parcel (one per warehouse of an order) and later
reports each parcel's progress by webhook (``POST /carriers/{carrier}/webhooks``,
signed, see ``webhook_signature``). The port has both sides: ``book`` and
``cancel`` going out, ``read_tracking`` translating the carrier's webhook body.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol
from uuid import UUID

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import and_, delete, exists, select, update

from orderly_inventory.adapters.orm import sim_carrier_updates as updates
from orderly_inventory.domain.shipments import (
    CarrierRefusedError,
    ParcelLine,
    ShipmentStatus,
    TrackingUpdate,
)
from orderly_kit import webhook_signature
from orderly_kit.db import Database, insert_unless_exists
from orderly_schemas.checkout import Address

__all__ = [
    "Carrier",
    "CarrierRefusedError",
    "Consignment",
    "SimulatedCarrier",
    "TrackingSchedule",
    "TrackingWebhook",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Consignment:
    """A carrier's receipt for one parcel handed over."""

    carrier: str
    tracking_number: str
    expected_delivery_at: datetime | None = None


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


#: A webhook attempt's claim on an update: retried by the next scan if the sender died.
SEND_LEASE: Final = timedelta(seconds=60)
RETRY_BACKOFF: Final = timedelta(seconds=1)
RETRY_BACKOFF_MAX: Final = timedelta(minutes=5)
#: After this many failed attempts (about an hour with the backoff above) an update is
#: given up: its parcel was booked but never recorded by the shipper (a crash between
#: booking and commit of an order that then never shipped), so no one will take it.
MAX_SEND_ATTEMPTS: Final = 20
SEND_TIMEOUT_SECONDS: Final = 10.0
#: Tracking updates the sender claims per scan, and how many it POSTs at once: each
#: answer takes a database connection from the pool the service's consumers share.
SEND_BATCH: Final = 50
SEND_CONCURRENCY: Final = 4


class SimulatedCarrier:
    """A carrier with its own durable record (``sim_carrier_updates``), committed on its own.

    Booking is deterministic: the tracking number ("SP" + 12 hex digits) is derived
    from (carrier, order, warehouse), so a booking retried after the shipper's
    transaction rolled back gets the same number. Each booking schedules the
    parcel's tracking updates (``TrackingSchedule``), which ``send_due_updates``
    POSTs, signed, to the shipper's webhook.

    Test hooks, driven by the ship-to ``postal_code``: ``REFUSED_POSTAL_CODE`` (00000)
    refuses the booking (the saga's "shipment fails" path); ``UNDELIVERABLE_POSTAL_CODE``
    (00001) books, then the parcel fails in transit instead of being delivered.
    """

    REFUSED_POSTAL_CODE: Final = "00000"
    UNDELIVERABLE_POSTAL_CODE: Final = "00001"

    def __init__(
        self,
        database: Database,
        name: str = "SimPost",
        *,
        schedule: TrackingSchedule | None = None,
    ) -> None:
        self.name = name
        self._database = database
        self.schedule = schedule or TrackingSchedule()

    # -- the port ------------------------------------------------------------------------
    async def book(
        self, *, order_id: UUID, warehouse: str, ship_to: Address, lines: Sequence[ParcelLine]
    ) -> Consignment:
        del lines
        postal_code = ship_to.postal_code.strip()
        if postal_code == self.REFUSED_POSTAL_CODE:
            raise CarrierRefusedError(
                f"{self.name} does not deliver to postal code {self.REFUSED_POSTAL_CODE}"
            )
        number = tracking_number(self.name, order_id, warehouse)
        booked_at = datetime.now(UTC)
        rows = []
        for status, offset in self.schedule.offsets():
            detail = None
            if status is ShipmentStatus.DELIVERED and postal_code == self.UNDELIVERABLE_POSTAL_CODE:
                status = ShipmentStatus.FAILED
                detail = f"no such address: {self.name} cannot deliver to postal code {postal_code}"
            rows.append(
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
            )
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

    # -- the carrier's side: sending the tracking updates ------------------------------------
    async def send_due_updates(
        self,
        client: httpx.AsyncClient,
        *,
        url: str,
        secret: str,
        now: datetime | None = None,
        batch: int = SEND_BATCH,
    ) -> int:
        """POST the tracking updates that are due, signed with ``secret``; how many were taken.

        Claimed with SKIP LOCKED (replicas share the work) and only the earliest unsent
        update of each parcel, so a parcel's updates arrive in order. A claim is a
        lease: the row is due again after ``SEND_LEASE`` if this process dies while
        sending. A 2xx answer marks it sent; anything else is retried with backoff.
        """
        at = now or datetime.now(UTC)
        claimed = await self._claim(at, batch)
        slots = asyncio.Semaphore(SEND_CONCURRENCY)

        async def send(row: dict[str, Any]) -> None:
            async with slots:
                await self._send(client, row, url=url, secret=secret, now=at)

        await asyncio.gather(*(send(row) for row in claimed))
        return len(claimed)

    async def _claim(self, now: datetime, batch: int) -> list[dict[str, Any]]:
        c = updates.c
        earlier = updates.alias("earlier")
        pending = and_(c.sent_at.is_(None), c.abandoned_at.is_(None))
        due = (
            select(c.id)
            .where(pending, c.next_attempt_at <= now)
            .where(
                ~exists().where(
                    earlier.c.tracking_number == c.tracking_number,
                    earlier.c.id < c.id,
                    earlier.c.sent_at.is_(None),
                    earlier.c.abandoned_at.is_(None),
                )
            )
            .order_by(c.next_attempt_at, c.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        async with self._database.engine.begin() as conn:
            rows = await conn.execute(
                update(updates)
                .where(c.id.in_(due.scalar_subquery()))
                .values(attempts=c.attempts + 1, next_attempt_at=now + SEND_LEASE)
                .returning(updates)
            )
            return [dict(r) for r in rows.mappings()]

    async def _send(
        self,
        client: httpx.AsyncClient,
        row: dict[str, Any],
        *,
        url: str,
        secret: str,
        now: datetime,
    ) -> None:
        body = (
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
        error = await webhook_signature.post_signed(
            client, url, body, secret=secret, timeout_seconds=SEND_TIMEOUT_SECONDS
        )
        c = updates.c
        values: dict[str, Any]
        if error is None:
            values = {"sent_at": datetime.now(UTC), "last_error": None}
        elif row["attempts"] >= MAX_SEND_ATTEMPTS:
            log.error(
                "%s gives up on tracking update %s of parcel %s after %d attempts: %s",
                self.name,
                row["status"],
                row["tracking_number"],
                row["attempts"],
                error,
            )
            values = {"abandoned_at": now, "last_error": error[:2000]}
        else:
            log.warning(
                "tracking update %s of parcel %s not accepted (attempt %d): %s",
                row["status"],
                row["tracking_number"],
                row["attempts"],
                error,
            )
            values = {
                "next_attempt_at": now + _backoff(row["attempts"]),
                "last_error": error[:2000],
            }
        async with self._database.engine.begin() as conn:
            await conn.execute(update(updates).where(c.id == row["id"]).values(**values))


def tracking_number(carrier: str, order_id: UUID, warehouse: str) -> str:
    """The simulated carrier's tracking number of an order's parcel from ``warehouse``."""
    digest = hashlib.sha256(f"{carrier}:{order_id}:{warehouse}".encode()).hexdigest()
    return "SP" + digest[:12].upper()


def _delivery_id(carrier: str, number: str, status: ShipmentStatus) -> UUID:
    # Derived, so that a booking retried schedules the same updates, not new ones.
    return uuid.uuid5(uuid.NAMESPACE_URL, f"orderly-sim-carrier:{carrier}:{number}:{status.value}")


def _backoff(attempts: int) -> timedelta:
    return min(RETRY_BACKOFF * (1 << max(attempts - 1, 0)), RETRY_BACKOFF_MAX)
