"""Tracking: the carrier's reports of each parcel, until the order is delivered (or lost).

A report runs in the caller's unit of work and takes the order's lock, then the
parcel's row (the lock order in ``adapters``); a report delivered twice (the same
delivery id) changes nothing the second time, and a late one that would move the
parcel backwards is ignored.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum

from orderly_inventory.adapters.reservations import ReservationRepository
from orderly_inventory.adapters.shipments import ShipmentRepository
from orderly_inventory.domain.shipments import (
    ShipmentStatus,
    TrackingUpdate,
    advances,
    delivery_notice,
    tracking_report,
)
from orderly_kit.messaging import Messaging, UnitOfWork

log = logging.getLogger(__name__)


class TrackingOutcome(StrEnum):
    """What became of a carrier's tracking update."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # its delivery id was received before: a replay or a retry
    STALE = "stale"  # it would move the parcel backwards (late, or repeated): ignored


class UnknownParcelError(LookupError):
    """A tracking update for a tracking number no shipment of this carrier has."""


async def record_tracking_update(
    uow: UnitOfWork, update: TrackingUpdate, *, carrier: str
) -> TrackingOutcome:
    """Apply a carrier's report of a parcel's progress, once; ShipmentTracked for each step.

    When the order's last parcel is delivered, ShipmentDelivered (once, naming that
    parcel); a parcel that fails in transit gives ShipmentFailed naming it and the
    carrier's detail. A report whose delivery id was seen before, or that would move
    the parcel backwards, changes nothing. Raises UnknownParcelError for a tracking
    number that no shipment of ``carrier`` has (the carrier may try again later: its
    booking's transaction may not have committed yet).
    """
    shipping = ShipmentRepository(uow.session)
    reservations = ReservationRepository(uow.session)
    found = await shipping.shipment_by_tracking_number(update.tracking_number)
    order_id = found.order_id if found is not None else update.order_id
    if order_id is None:
        raise _unknown(update, carrier)
    # Waits for a ShipOrder of the order still in flight, which may be recording this parcel.
    await reservations.lock_order(order_id)
    shipment = await shipping.shipment_by_tracking_number(update.tracking_number, lock=True)
    if shipment is None or shipment.order_id != order_id or shipment.carrier != carrier:
        raise _unknown(update, carrier)
    if not await shipping.record_webhook_delivery(carrier, update.delivery_id, at=uow.now()):
        log.info("tracking update %s of %s received before", update.delivery_id, carrier)
        return TrackingOutcome.DUPLICATE
    if not advances(shipment, update):
        log.info(
            "parcel %s is %s; a late %s report is ignored",
            shipment.tracking_number,
            shipment.status.value,
            update.status.value,
        )
        return TrackingOutcome.STALE
    tracked = await shipping.record_tracking(shipment, update)
    for event in tracking_report(tracked, update):
        await uow.publish(event)
    if tracked.status is ShipmentStatus.DELIVERED:
        delivered = delivery_notice(await shipping.shipments_of(order_id), update)
        if delivered is not None:
            await uow.publish(delivered)
    return TrackingOutcome.APPLIED


def _unknown(update: TrackingUpdate, carrier: str) -> UnknownParcelError:
    return UnknownParcelError(
        f"no parcel with tracking number {update.tracking_number!r} was shipped with {carrier}"
    )


async def forget_webhook_deliveries(
    messaging: Messaging, *, older_than: timedelta, batch: int = 1000
) -> int:
    """Delete remembered webhook delivery ids older than ``older_than``, one batch."""
    async with messaging.database.transaction() as session:
        return await ShipmentRepository(session).forget_webhook_deliveries(
            received_before=messaging.clock() - older_than, limit=batch
        )
