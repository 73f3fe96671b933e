"""Replacements: ship goods in place of an order's, in parcels of their own (ShipReplacement).

ShipReplacement runs in the caller's unit of work and first takes the order's lock (as
every command of the order does), then locks the stock rows of its SKUs in (sku,
warehouse) order before anything is decided from them, as ReserveStock does. It is
decided once per replacement id: a replacement found is answered again (the same
ReplacementShipped, or ReplacementRefused) and takes no stock again; one still being
picked is not answered, for its hand-over answers.

It goes as ShipOrder goes. With no pick delay its stock is reserved, booked with the
carrier and shipped at once, in one transaction; every parcel is booked before any stock
moves, so a carrier's refusal takes nothing. With a pick delay its stock is reserved (the
available stock falls at once, and LowStockDetected with it) and the warehouse picks it
until it is due, when ``ship_due_replacements`` (the picking job's twin) hands it over;
a carrier's refusal then, or the customer's erasure meanwhile, refuses it and gives the
stock back. The carrier is booked inside the transaction: a refusal (CarrierRefusedError)
is final; any other carrier error propagates, so the command (or the hand-over) is
retried, and the carrier's bookings are idempotent per replacement and warehouse.

The address is opened for the carrier only and kept sealed as a picking keeps it; it is
never logged or published.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.carrier import Carrier, CarrierRefusedError, book_each
from orderly_inventory.adapters.personal_data import ShipTo, ship_to_of
from orderly_inventory.adapters.replacements import ReplacementRepository
from orderly_inventory.adapters.reservations import ReservationRepository
from orderly_inventory.adapters.shipments import ShipmentRepository
from orderly_inventory.adapters.stock import StockRepository
from orderly_inventory.domain.allocation import Policy
from orderly_inventory.domain.regions import NO_REGIONS, Regions
from orderly_inventory.domain.replacements import Replacement, ReplacementStatus, decide
from orderly_inventory.domain.shipments import (
    ADDRESS_ERASED,
    Consignment,
    PlannedParcel,
    Shipment,
    handed_over,
)
from orderly_inventory.use_cases import ledger
from orderly_inventory.use_cases.fulfilment import Due, hand_over_each
from orderly_kit.messaging import Messaging, UnitOfWork
from orderly_schemas.checkout import Address
from orderly_schemas.inventory import ShipReplacement

log = logging.getLogger(__name__)

#: Replacements the job hands over per scan, each in its own transaction.
HAND_OVER_BATCH = 100


async def ship_replacement(
    uow: UnitOfWork,
    command: ShipReplacement,
    *,
    carrier: Carrier,
    pick_delay: timedelta = timedelta(0),
    policy: Policy = Policy.PRIORITY,
    regions: Regions = NO_REGIONS,
) -> None:
    """Reserve the replacement's lines from available stock and ship them, once per id.

    ReplacementShipped (one parcel per warehouse), or ReplacementRefused when a line is
    short (nothing is taken), the customer was erased, or the carrier refuses; a re-sent
    command gets the same answer. Raises ConflictError for a replacement id already used
    for another order. ``policy`` and ``regions`` choose the warehouses as ReserveStock's.
    """
    await ReservationRepository(uow.session).lock_order(command.order_id)
    replacing = ReplacementRepository(uow.session)
    shipping = ShipmentRepository(uow.session)
    previous = await replacing.replacement_of(command.replacement_id)
    if previous is not None:
        previous.check_order(command.order_id)
        log.info("%s already decided: %s", previous, previous.status.value)
        answer = previous.answer(await shipping.parcels_of_replacements([previous.replacement_id]))
        if answer is not None:
            await uow.publish(answer)
        return
    now = uow.now()
    lines = [(line.sku, line.quantity) for line in command.lines]
    ship_to = await ship_to_of(uow.vault, uow.session, command, now=now)
    address = None if ship_to is None else ship_to.address
    available = None
    if address is not None:  # the stock is locked only for a replacement that can ship
        available = await StockRepository(uow.session).lock_stock(sku for sku, _ in lines)
    replacement = decide(
        replacement_id=command.replacement_id,
        order_id=command.order_id,
        lines=lines,
        reason=command.reason,
        available=available,
        at=now,
        pick_delay=pick_delay,
        policy=policy,
        ship_region=None
        if address is None
        else regions.region_of(country=address.country, postal_code=address.postal_code),
    )
    if replacement.status is ReplacementStatus.REFUSED or address is None:
        await replacing.add(replacement, ship_to=None, cause=None)
        await _answer(uow, replacement, [])
        return
    if not replacement.due(now):
        await ledger.move(uow, replacement.reservation_movements(), at=now)
        await replacing.add(replacement, ship_to=ship_to, cause=uow.cause)
        log.info("%s is being picked until %s", replacement, replacement.due_at)
        return
    outcome, parcels = await _hand_over(
        uow, replacement, address, carrier=carrier, now=now, reserved=False
    )
    await replacing.add(outcome, ship_to=ship_to, cause=None)
    await shipping.add_shipments(parcels)
    await _answer(uow, outcome, parcels)


async def _hand_over(
    uow: UnitOfWork,
    replacement: Replacement,
    ship_to: Address,
    *,
    carrier: Carrier,
    now: datetime,
    reserved: bool,
) -> tuple[Replacement, list[Shipment]]:
    """Book every parcel, then ship the stock (reserving it first unless ``reserved``): the
    replacement shipped with its parcels, or refused by the carrier, its stock given back."""

    async def book(parcel: PlannedParcel) -> Consignment:
        return await carrier.book_replacement(
            order_id=replacement.order_id,
            replacement_id=replacement.replacement_id,
            warehouse=parcel.warehouse,
            ship_to=ship_to,
            lines=parcel.lines,
        )

    planned = replacement.parcels()
    try:
        booked = await book_each(carrier, planned, book)
    except CarrierRefusedError as refusal:
        log.warning("carrier %s refused %s: %s", carrier.name, replacement, refusal)
        return await _refuse(uow, replacement, refusal.reason, now=now, reserved=reserved), []
    parcels = handed_over(
        replacement.order_id,
        planned,
        booked,
        at=now,
        replacement_id=replacement.replacement_id,
    )
    # Both in (sku, warehouse) order, the order stock rows are locked in.
    taken = [] if reserved else replacement.reservation_movements()
    await ledger.move(uow, [*taken, *replacement.shipment_movements(parcels)], at=now)
    log.info("%s shipped as %s", replacement, ", ".join(p.tracking_number for p in parcels))
    return replacement.shipped(now), parcels


async def _refuse(
    uow: UnitOfWork, replacement: Replacement, why: str, *, now: datetime, reserved: bool
) -> Replacement:
    if reserved:
        await ledger.move(uow, replacement.release_movements(why), at=now)
    return replacement.refused(why, at=now, held=reserved)


async def _answer(uow: UnitOfWork, replacement: Replacement, parcels: list[Shipment]) -> None:
    if replacement.status is ReplacementStatus.REFUSED:
        log.warning("%s refused: %s", replacement, replacement.refusal)
    answer = replacement.answer(parcels)
    if answer is not None:
        await uow.publish(answer)


async def ship_due_replacements(
    messaging: Messaging,
    *,
    carrier: Carrier,
    batch: int = HAND_OVER_BATCH,
    now: datetime | None = None,
) -> int:
    """Hand over the replacements whose picking is done: ReplacementShipped (or
    ReplacementRefused), once each.

    As the orders' pickings are (``fulfilment.hand_over_each``): each in its own
    transaction, claimed with SKIP LOCKED, its order's lock only *tried*; a transient
    carrier error rolls that hand-over back and passes over it. Returns how many were
    handed over.
    """

    async def claim(
        session: AsyncSession, at: datetime, passing_over: Collection[UUID]
    ) -> Due[tuple[Replacement, ShipTo]] | None:
        replacing = ReplacementRepository(session, vault=messaging.vault)
        claimed = await replacing.claim_due(now=at, passing_over=passing_over)
        if claimed is None:
            return None
        replacement, ship_to, command = claimed
        key, order = replacement.replacement_id, replacement.order_id
        return Due(key, order, command, (replacement, ship_to))

    async def ship(uow: UnitOfWork, due: tuple[Replacement, ShipTo], at: datetime) -> None:
        replacement, ship_to = due
        if ship_to.address is None:  # the customer was erased while it was picked
            outcome = await _refuse(uow, replacement, ADDRESS_ERASED, now=at, reserved=True)
            parcels: list[Shipment] = []
        else:
            outcome, parcels = await _hand_over(
                uow, replacement, ship_to.address, carrier=carrier, now=at, reserved=True
            )
        await ReplacementRepository(uow.session).save(outcome)
        await ShipmentRepository(uow.session).add_shipments(parcels)
        await _answer(uow, outcome, parcels)

    return await hand_over_each(
        messaging, what="replacement", claim=claim, hand_over=ship, batch=batch, now=now
    )
