"""Returns: book the carrier to collect a customer's return and bring it to the warehouse.

BookReturnParcel runs in the caller's unit of work and first takes the order's lock (as
every command of the order does), so it never interleaves with the order's tracking
updates. It is answered once per return: the parcel (or the refusal) is kept under the
return id, and a BookReturnParcel re-sent later is answered again with it, booking
nothing new. The carrier is booked inside the transaction, as ShipOrder books it: a
refusal (CarrierRefusedError) is final and kept; any other carrier error propagates, so
the command is retried, and the carrier's booking is idempotent per return.

The collection address is the one the order was shipped to, kept sealed with its
picking; it is opened for the carrier only, and never logged or published.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from orderly_inventory.adapters.carrier import Carrier, CarrierRefusedError
from orderly_inventory.adapters.reservations import ReservationRepository
from orderly_inventory.adapters.returns import ReturnParcelRepository
from orderly_inventory.adapters.shipments import ShipmentRepository
from orderly_inventory.domain.returns import (
    ADDRESS_ERASED,
    NEVER_SHIPPED,
    NO_ADDRESS_KEPT,
    ReturnParcel,
    ReturnParcelStatus,
    return_lines,
    return_warehouse,
    unshipped_reason,
)
from orderly_kit.messaging import UnitOfWork
from orderly_schemas.inventory import BookReturnParcel

log = logging.getLogger(__name__)


async def book_return_parcel(
    uow: UnitOfWork, command: BookReturnParcel, *, carrier: Carrier
) -> None:
    """Book the return's collection with ``carrier``, once: ReturnParcelBooked, or
    ReturnParcelRefused when the order never shipped from here, its address was erased
    (or not kept) or the carrier refuses; a re-sent command gets the same answer."""
    await ReservationRepository(uow.session).lock_order(command.order_id)
    returning = ReturnParcelRepository(uow.session)
    previous = await returning.parcel_of(command.return_id)
    if previous is not None:
        log.info("return %s already answered: %s", command.return_id, previous.status.value)
        await uow.publish(previous.answer())
        return
    now = uow.now()
    lines = return_lines([(line.sku, line.quantity) for line in command.lines])
    parcel = ReturnParcel(
        return_id=command.return_id,
        order_id=command.order_id,
        status=ReturnParcelStatus.BOOKED,
        lines=lines,
        booked_at=now,
        updated_at=now,
    )
    shipping = ShipmentRepository(uow.session, vault=uow.vault)
    if not await shipping.shipments_of(command.order_id):
        await _refuse(uow, returning, parcel, NEVER_SHIPPED)
        return
    warehouse = return_warehouse(lines, await shipping.shipped_lines(command.order_id))
    if warehouse is None:
        await _refuse(uow, returning, parcel, unshipped_reason([ln.sku for ln in lines]))
        return
    picking = await shipping.picking_of(command.order_id)
    if picking is None or picking.ship_to is None:
        await _refuse(
            uow, returning, parcel, NO_ADDRESS_KEPT if picking is None else ADDRESS_ERASED
        )
        return
    try:
        consignment = await carrier.book_return(
            order_id=command.order_id,
            return_id=command.return_id,
            warehouse=warehouse,
            collect_from=picking.ship_to,
            lines=lines,
        )
    except CarrierRefusedError as refusal:
        await _refuse(uow, returning, parcel, refusal.reason)
        return
    booked = replace(
        parcel,
        warehouse=warehouse,
        carrier=consignment.carrier,
        tracking_number=consignment.tracking_number,
    )
    await returning.add_parcel(booked)
    log.info(
        "return %s of order %s booked with %s as %s, to %s",
        command.return_id,
        command.order_id,
        booked.carrier,
        booked.tracking_number,
        warehouse,
    )
    await uow.publish(booked.answer())


async def _refuse(
    uow: UnitOfWork, returning: ReturnParcelRepository, parcel: ReturnParcel, reason: str
) -> None:
    refused = replace(parcel, status=ReturnParcelStatus.REFUSED, reason=reason)
    await returning.add_parcel(refused)
    log.warning("return %s of order %s refused: %s", parcel.return_id, parcel.order_id, reason)
    await uow.publish(refused.answer())
