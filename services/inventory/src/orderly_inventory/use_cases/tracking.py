"""Tracking: the carrier's reports of each parcel, until the order is delivered (or lost),
of each replacement's parcels, and of each return's parcel on its way back to the warehouse.

A report runs in the caller's unit of work and takes the order's lock, then the
parcel's row (the lock order in ``adapters``); a report delivered twice (the same
delivery id) changes nothing the second time, and a late one that would move the
parcel backwards is ignored.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum

from orderly_inventory.adapters.replacements import ReplacementRepository
from orderly_inventory.adapters.reservations import ReservationRepository
from orderly_inventory.adapters.returns import ReturnParcelRepository
from orderly_inventory.adapters.shipments import ShipmentRepository
from orderly_inventory.domain.returns import ReturnParcel
from orderly_inventory.domain.shipments import (
    Shipment,
    ShipmentStatus,
    TrackingUpdate,
    advances,
    delivery_notice,
    tracking_report,
    tracking_step,
)
from orderly_kit.messaging import Messaging, UnitOfWork

log = logging.getLogger(__name__)


class TrackingOutcome(StrEnum):
    """What became of a carrier's tracking update."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # its delivery id was received before: a replay or a retry
    STALE = "stale"  # it would move the parcel backwards (late, or repeated): ignored


class UnknownParcelError(LookupError):
    """A tracking update for a tracking number no parcel of this carrier (an order's or a
    return's) has."""


async def record_tracking_update(
    uow: UnitOfWork, update: TrackingUpdate, *, carrier: str
) -> TrackingOutcome:
    """Apply a carrier's report of a parcel's progress, once; ShipmentTracked for each step.

    When the order's last parcel is delivered, ShipmentDelivered (once, naming that
    parcel); a parcel that fails in transit gives ShipmentFailed naming it and the
    carrier's detail. A replacement's parcel (``use_cases.replacements``) announces its
    steps alike, but ends the replacement, never the order: ReplacementDelivered once its
    last parcel is delivered, ReplacementFailed once one fails. A return's parcel
    (``use_cases.returns``) is tracked alike and announces each step with
    ReturnParcelTracked. A report whose delivery id was seen before, or that would move
    the parcel backwards, changes nothing. Raises
    UnknownParcelError for a tracking number that no parcel of ``carrier`` has (the
    carrier may try again later: its booking's transaction may not have committed yet).
    """
    shipping = ShipmentRepository(uow.session)
    returning = ReturnParcelRepository(uow.session)
    found = await _parcel(shipping, returning, update.tracking_number)
    order_id = found.order_id if found is not None else update.order_id
    if order_id is None:
        raise _unknown(update, carrier)
    # Waits for a command of the order still in flight, which may be recording this parcel.
    await ReservationRepository(uow.session).lock_order(order_id)
    parcel = await _parcel(shipping, returning, update.tracking_number, lock=True)
    if parcel is None or parcel.order_id != order_id or parcel.carrier != carrier:
        raise _unknown(update, carrier)
    if not await shipping.record_webhook_delivery(carrier, update.delivery_id, at=uow.now()):
        log.info("tracking update %s of %s received before", update.delivery_id, carrier)
        return TrackingOutcome.DUPLICATE
    if isinstance(parcel, ReturnParcel):
        return await _track_return_parcel(uow, returning, parcel, update)
    return await _track_shipment(uow, shipping, parcel, update)


async def _parcel(
    shipping: ShipmentRepository,
    returning: ReturnParcelRepository,
    tracking_number: str,
    *,
    lock: bool = False,
) -> Shipment | ReturnParcel | None:
    """The shipment with ``tracking_number``, or else the return parcel."""
    shipment = await shipping.shipment_by_tracking_number(tracking_number, lock=lock)
    return shipment or await returning.parcel_by_tracking_number(tracking_number, lock=lock)


async def _track_shipment(
    uow: UnitOfWork, shipping: ShipmentRepository, shipment: Shipment, update: TrackingUpdate
) -> TrackingOutcome:
    if not advances(shipment, update):
        return _stale(shipment.tracking_number, shipment.status.value, update)
    tracked = await shipping.record_tracking(shipment, update)
    if tracked.replacement_id is not None:
        await _track_replacement_parcel(uow, shipping, tracked, update)
        return TrackingOutcome.APPLIED
    for event in tracking_report(tracked, update):
        await uow.publish(event)
    if tracked.status is ShipmentStatus.DELIVERED:
        delivered = delivery_notice(await shipping.shipments_of(shipment.order_id), update)
        if delivered is not None:
            await uow.publish(delivered)
    return TrackingOutcome.APPLIED


async def _track_replacement_parcel(
    uow: UnitOfWork, shipping: ShipmentRepository, tracked: Shipment, update: TrackingUpdate
) -> None:
    """ShipmentTracked for the step; the replacement delivered or failed if it now is."""
    await uow.publish(tracking_step(tracked, update))
    assert tracked.replacement_id is not None
    replacing = ReplacementRepository(uow.session)
    replacement = await replacing.replacement_of(tracked.replacement_id)
    if replacement is None:  # its parcel's row names it (a foreign key): never
        raise LookupError(f"parcel {tracked.tracking_number} names no known replacement")
    parcels = await shipping.parcels_of_replacements([replacement.replacement_id])
    ended, notice = replacement.progress(parcels)
    if notice is not None:
        await replacing.save(ended)
        await uow.publish(notice)


async def _track_return_parcel(
    uow: UnitOfWork, returning: ReturnParcelRepository, parcel: ReturnParcel, update: TrackingUpdate
) -> TrackingOutcome:
    if not parcel.advances(update):
        return _stale(parcel.tracking_number, parcel.status.value, update)
    await returning.record_tracking(parcel, update, at=uow.now())
    await uow.publish(parcel.progress_report(update))
    return TrackingOutcome.APPLIED


def _stale(tracking_number: str | None, status: str, update: TrackingUpdate) -> TrackingOutcome:
    log.info(
        "parcel %s is %s; a late %s report is ignored", tracking_number, status, update.status.value
    )
    return TrackingOutcome.STALE


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
