"""Fulfilment: reserve an order's stock, release it, let it expire, ship it (after picking).

Every use case runs inside the caller's unit of work (one transaction with the
inbox and outbox) and first takes the order's lock, so that two commands of one
order never interleave, whatever is redelivered or re-sent. The expiry and
picking jobs take the same lock for each order they act on (only if it is free).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.carrier import (
    Carrier,
    CarrierRefusedError,
    Consignment,
    book_each,
)
from orderly_inventory.adapters.personal_data import address_in, ship_to_of
from orderly_inventory.adapters.reservations import ReservationRepository
from orderly_inventory.adapters.shipments import ShipmentRepository
from orderly_inventory.adapters.stock import StockRepository
from orderly_inventory.domain.allocation import Policy, Shortage, allocate
from orderly_inventory.domain.ledger import SAGA_ACTOR, SYSTEM_ACTOR, Movement, MovementKind
from orderly_inventory.domain.regions import NO_REGIONS, Regions
from orderly_inventory.domain.reservations import (
    RELEASE_TOMBSTONE,
    Hold,
    RequestOutcome,
    Reservation,
    ReservationRequest,
    ReservationStatus,
    expiry_reason,
    release_acknowledgement,
)
from orderly_inventory.domain.shipments import (
    ADDRESS_ERASED,
    EXPIRED_WHILE_PICKING,
    RELEASED_WHILE_PICKING,
    Picking,
    PickingStatus,
    PlannedParcel,
    Shipment,
    ShipmentFailure,
    handed_over,
    shipment_plan,
    shipping_notice,
)
from orderly_inventory.use_cases import ledger
from orderly_kit.messaging import Messaging, UnitOfWork
from orderly_schemas.checkout import Address
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.inventory import (
    ReleaseStock,
    ReserveStock,
    ShipmentFailed,
    ShipOrder,
    StockReservationExpired,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


#: Reservation rows the expiry job claims per transaction.
EXPIRY_BATCH = 200


#: Pickings the picking job hands over per scan, each in its own transaction.
PICKING_BATCH = 100


async def reserve_stock(
    uow: UnitOfWork,
    command: ReserveStock,
    *,
    ttl: timedelta,
    policy: Policy = Policy.PRIORITY,
    regions: Regions = NO_REGIONS,
) -> None:
    """Reserve every line or none, for ``ttl``; a repeated command repeats the first answer.

    The warehouses are chosen by ``policy`` (see ``domain.allocation``): one warehouse
    for the whole order when one can serve it, else the fewest; ``regions`` says which
    region serves the command's ``ship_to`` for the nearest policy. After the order's
    ReleaseStock (its tombstone) the answer is StockReservationFailed.
    """
    reservations = ReservationRepository(uow.session)
    stock = StockRepository(uow.session)
    await reservations.lock_order(command.order_id)
    previous = await reservations.request_of(command.order_id)
    if previous is not None:
        log.info("ReserveStock for order %s already answered: %s", command.order_id, previous)
        await _answer_again(uow, reservations, command.order_id, previous)
        return
    lines = [(line.sku, line.quantity) for line in command.lines]
    # Every row is locked (in (sku, warehouse) order) before anything is decided from it.
    available = await stock.lock_stock(sku for sku, _ in lines)
    address = address_in(uow.vault, command)
    ship_region = (
        None
        if address is None
        else regions.region_of(country=address.country, postal_code=address.postal_code)
    )
    result = allocate(lines, available, policy=policy, ship_region=ship_region)
    now = uow.now()
    if isinstance(result, Shortage):
        failed = ReservationRequest(RequestOutcome.FAILED, result.reason, result.short_skus)
        await reservations.record_request(command.order_id, failed)
        await uow.publish(failed.answer(command.order_id, at=now))
        return
    await ledger.move(
        uow,
        (
            Movement(
                sku=p.sku,
                warehouse=p.warehouse,
                kind=MovementKind.RESERVATION,
                quantity=p.quantity,
                reserved=p.quantity,
                reason="reserved for the order",
                reference=str(command.order_id),
                actor=SAGA_ACTOR,
            )
            for p in result
        ),
        at=now,
    )
    await reservations.add_reservations(command.order_id, result, at=now, expires_at=now + ttl)
    reserved = ReservationRequest(RequestOutcome.RESERVED, None, [])
    await reservations.record_request(command.order_id, reserved)
    await uow.publish(reserved.answer(command.order_id, held=result, at=now))


async def _answer_again(
    uow: UnitOfWork,
    reservations: ReservationRepository,
    order_id: UUID,
    previous: ReservationRequest,
) -> None:
    reserved = previous.outcome is RequestOutcome.RESERVED
    held = await reservations.reservations_of(order_id) if reserved else []
    await uow.publish(previous.answer(order_id, held=held, at=uow.now()))


async def release_stock(uow: UnitOfWork, command: ReleaseStock) -> None:
    """Give back what the order still holds; safe when nothing was ever reserved.

    Only RESERVED stock comes back (never shipped or expired stock), and StockReleased
    is always published: it is the saga's acknowledgement. A release that comes before
    any ReserveStock leaves a tombstone, so that a late ReserveStock cannot reserve.
    A release that comes while the order is being picked cancels the picking: the
    parcels are never handed over, and every later ShipOrder answers ShipmentFailed.
    """
    reservations = ReservationRepository(uow.session)
    shipping = ShipmentRepository(uow.session)
    await reservations.lock_order(command.order_id)
    now = uow.now()
    if await reservations.request_of(command.order_id) is None:
        log.info("order %s released before any ReserveStock; tombstone left", command.order_id)
        await reservations.record_request(command.order_id, RELEASE_TOMBSTONE)
    if await shipping.end_picking(
        command.order_id,
        status=PickingStatus.CANCELLED,
        reason=RELEASED_WHILE_PICKING,
        at=now,
    ):
        log.info("order %s released while being picked; picking cancelled", command.order_id)
    held = await reservations.reservations_of(
        command.order_id, status=ReservationStatus.RESERVED, lock=True
    )
    await ledger.move(
        uow,
        (
            Movement(
                sku=r.sku,
                warehouse=r.warehouse,
                kind=MovementKind.RELEASE,
                quantity=r.quantity,
                reserved=-r.quantity,
                reason=f"released: {command.reason}",
                reference=str(command.order_id),
                actor=SAGA_ACTOR,
            )
            for r in held
        ),
        at=now,
    )
    await reservations.change_reservation_status(
        command.order_id, old=ReservationStatus.RESERVED, new=ReservationStatus.RELEASED, at=now
    )
    if not held:
        log.info("nothing reserved for order %s; release is a no-op", command.order_id)
    await uow.publish(release_acknowledgement(command.order_id, command.reason, at=now))


async def ship_order(
    uow: UnitOfWork,
    command: ShipOrder,
    *,
    carrier: Carrier,
    pick_delay: timedelta = timedelta(0),
) -> None:
    """Pick the reserved stock and hand it to the carrier, one parcel per warehouse, once.

    With no ``pick_delay`` the parcels leave at once (and the picking is recorded done,
    keeping the address sealed for a return's collection). Otherwise the warehouse picks
    first: a Picking is recorded, nothing is published, the stock stays reserved, and
    the picking job (``complete_due_pickings``) hands the parcels over when it is due,
    unless a ReleaseStock or the reservation's expiry cancels it first. A ShipOrder
    that comes while picking changes nothing; after a cancelled picking it answers
    ShipmentFailed with the reason.

    A carrier's refusal of any parcel (CarrierRefusedError), known at hand-over, is
    final for the whole order: ShipmentFailed with its reason, no parcel leaves, the
    stock stays reserved for the saga's ReleaseStock, and every later ShipOrder of the
    order gets the same answer. Any other carrier error propagates, so the message (or
    the hand-over) is retried; the carrier's bookings are idempotent per parcel.
    """
    reservations = ReservationRepository(uow.session)
    shipping = ShipmentRepository(uow.session, vault=uow.vault)
    await reservations.lock_order(command.order_id)
    existing = await shipping.shipments_of(command.order_id)
    if existing:
        log.info("order %s already shipped as %s", command.order_id, _numbers(existing))
        await uow.publish(shipping_notice(existing, await shipping.shipped_lines(command.order_id)))
        return
    refused = await shipping.failure_of(command.order_id)
    if refused is not None:
        log.info(
            "order %s was refused by %s: %s", command.order_id, refused.carrier, refused.reason
        )
        await uow.publish(refused.answer(uow.now()))
        return
    # Looked up whatever pick_delay is now: pickings begun with another setting still count.
    picking = await shipping.picking_of(command.order_id)
    if picking is not None:
        answer = picking.answer(uow.now())
        if answer is None:
            log.info("order %s is being picked until %s", command.order_id, picking.due_at)
            return
        await uow.publish(answer)
        return
    now = uow.now()
    held = await reservations.reservations_of(
        command.order_id, status=ReservationStatus.RESERVED, lock=True
    )
    parcels = shipment_plan(command.order_id, held, at=now)
    if isinstance(parcels, ShipmentFailed):
        await uow.publish(parcels)
        return
    ship_to = await ship_to_of(uow.vault, uow.session, command, now=now)
    if ship_to is None or ship_to.address is None:
        # Erasure waits for a customer's orders to end; a ShipOrder this late has no address.
        await uow.publish(
            ShipmentFailed(order_id=command.order_id, occurred_at=now, reason=ADDRESS_ERASED)
        )
        return
    if pick_delay > timedelta(0):
        picking = Picking(
            order_id=command.order_id,
            ship_to=ship_to.address,
            status=PickingStatus.PICKING,
            started_at=now,
            due_at=now + pick_delay,
        )
        await shipping.add_picking(picking, ship_to=ship_to, cause=uow.cause)
        log.info("order %s is being picked until %s", command.order_id, picking.due_at)
        return
    refusal = await _hand_over(
        uow,
        reservations,
        shipping,
        command.order_id,
        ship_to.address,
        held,
        parcels,
        carrier=carrier,
        now=now,
    )
    if refusal is None and ship_to.sealed is not None:
        # Picked at once: the picking is kept, done, for its address, which a return of the
        # order is collected from (use_cases.returns). Only sealed: no plaintext is added.
        done = Picking(
            order_id=command.order_id,
            ship_to=ship_to.address,
            status=PickingStatus.SHIPPED,
            started_at=now,
            due_at=now,
            ended_at=now,
        )
        await shipping.add_picking(done, ship_to=ship_to, cause=None)


async def _hand_over(
    uow: UnitOfWork,
    reservations: ReservationRepository,
    shipping: ShipmentRepository,
    order_id: UUID,
    ship_to: Address,
    held: list[Reservation],
    parcels: list[PlannedParcel],
    *,
    carrier: Carrier,
    now: datetime,
) -> str | None:
    """Book every parcel, then ship the held stock; the carrier's reason if it refused one.

    Every parcel is booked before any stock moves, so a refusal of the last parcel
    leaves the order as it was (the parcels booked before it are cancelled).
    """

    async def book(parcel: PlannedParcel) -> Consignment:
        return await carrier.book(
            order_id=order_id, warehouse=parcel.warehouse, ship_to=ship_to, lines=parcel.lines
        )

    try:
        booked = await book_each(carrier, parcels, book)
    except CarrierRefusedError as refusal:
        log.warning("carrier %s refused order %s: %s", carrier.name, order_id, refusal)
        failure = ShipmentFailure(
            order_id=order_id, carrier=carrier.name, reason=refusal.reason, failed_at=now
        )
        await shipping.add_failure(failure)
        await uow.publish(failure.answer(now))
        return refusal.reason
    booking_of = {p.warehouse: c for p, c in zip(parcels, booked, strict=True)}
    await ledger.move(
        uow,
        (
            Movement(
                sku=r.sku,
                warehouse=r.warehouse,
                kind=MovementKind.SHIPMENT,
                quantity=r.quantity,
                on_hand=-r.quantity,
                reserved=-r.quantity,
                reason=(
                    f"shipped with {booking_of[r.warehouse].carrier}"
                    f" as {booking_of[r.warehouse].tracking_number}"
                ),
                reference=str(order_id),
                actor=SYSTEM_ACTOR,
            )
            # ``held`` is in (sku, warehouse) order, the order stock rows are locked in.
            for r in held
        ),
        at=now,
    )
    await reservations.change_reservation_status(
        order_id, old=ReservationStatus.RESERVED, new=ReservationStatus.SHIPPED, at=now
    )
    shipments = handed_over(order_id, parcels, booked, at=now)
    await shipping.add_shipments(shipments)
    log.info("order %s shipped as %s", order_id, _numbers(shipments))
    await uow.publish(shipping_notice(shipments, await shipping.shipped_lines(order_id)))
    return None


@dataclass(frozen=True)
class Due(Generic[T]):
    """What a hand-over job claimed: ``item``, named by ``key`` (passed over while it is busy
    or failing), needing the lock of ``order_id``; ``cause`` is the command its answer
    follows (the ShipOrder, the ShipReplacement)."""

    key: UUID
    order_id: UUID
    cause: Envelope | None
    item: T


async def hand_over_each(
    messaging: Messaging,
    *,
    what: str,
    claim: Callable[[AsyncSession, datetime, Collection[UUID]], Awaitable[Due[T] | None]],
    hand_over: Callable[[UnitOfWork, T, datetime], Awaitable[None]],
    batch: int,
    now: datetime | None = None,
) -> int:
    """Hand over what is due, up to ``batch``, each in its own transaction; how many.

    ``claim`` takes the next due ``what`` (SKIP LOCKED: replicas share the work) other than
    those passed over; then its order's lock is only *tried*: one whose command holds it is
    passed over until the next scan, which finds it changed or still due. A failure (a
    transient carrier error) rolls that hand-over back and passes over it too, so one
    unreachable booking does not hold up the others.
    """
    handed_over = 0
    passed_over: set[UUID] = set()
    for _ in range(batch):
        key: UUID | None = None
        try:
            async with messaging.database.transaction() as session:
                at = now or messaging.clock()
                due = await claim(session, at, passed_over)
                if due is None:
                    break
                key = due.key
                if not await ReservationRepository(session).try_lock_order(due.order_id):
                    log.info("%s %s is busy; its hand-over waits for the next scan", what, key)
                    passed_over.add(key)
                    continue
                uow = UnitOfWork(
                    session,
                    outbox=messaging.outbox,
                    source=messaging.source,
                    cause=due.cause,
                    clock=messaging.clock,
                )
                await hand_over(uow, due.item, at)
            if uow.published:
                messaging.signal.notify()
            handed_over += 1
        except Exception:
            if key is None:
                raise
            log.exception("hand-over of %s %s failed; retried at the next scan", what, key)
            passed_over.add(key)
    return handed_over


async def complete_due_pickings(
    messaging: Messaging,
    *,
    carrier: Carrier,
    batch: int = PICKING_BATCH,
    now: datetime | None = None,
) -> int:
    """Hand over the pickings that are done: OrderShipped (or ShipmentFailed), once each.

    Each picking in its own transaction (``hand_over_each``): it is claimed with SKIP
    LOCKED, then its order's lock is only *tried*: an order whose ReleaseStock or ShipOrder
    holds it is passed over until the next scan, which finds it cancelled or still due.
    Returns how many pickings were handed over.
    """

    async def claim(
        session: AsyncSession, at: datetime, passing_over: Collection[UUID]
    ) -> Due[Picking] | None:
        shipping = ShipmentRepository(session, vault=messaging.vault)
        claimed = await shipping.claim_due_picking(now=at, passing_over=passing_over)
        if claimed is None:
            return None
        picking, ship_order = claimed
        return Due(picking.order_id, picking.order_id, ship_order, picking)

    async def complete(uow: UnitOfWork, picking: Picking, at: datetime) -> None:
        shipping = ShipmentRepository(uow.session, vault=messaging.vault)
        await _complete_picking(
            uow, ReservationRepository(uow.session), shipping, picking, carrier=carrier, now=at
        )

    return await hand_over_each(
        messaging, what="order", claim=claim, hand_over=complete, batch=batch, now=now
    )


async def _complete_picking(
    uow: UnitOfWork,
    reservations: ReservationRepository,
    shipping: ShipmentRepository,
    picking: Picking,
    *,
    carrier: Carrier,
    now: datetime,
) -> None:
    order_id = picking.order_id
    # Shipped or refused already by a ShipOrder that did not know pickings (a pod of the
    # previous release during a rolling deploy): answered then, so not again.
    if await shipping.shipments_of(order_id):
        await shipping.end_picking(order_id, status=PickingStatus.SHIPPED, reason=None, at=now)
        return
    refused = await shipping.failure_of(order_id)
    if refused is not None:
        await shipping.end_picking(
            order_id, status=PickingStatus.FAILED, reason=refused.reason, at=now
        )
        return
    held = await reservations.reservations_of(
        order_id, status=ReservationStatus.RESERVED, lock=True
    )
    parcels = shipment_plan(order_id, held, at=now)
    if picking.ship_to is None:  # the customer was erased while their parcels were picked
        parcels = ShipmentFailed(order_id=order_id, occurred_at=now, reason=ADDRESS_ERASED)
    if isinstance(parcels, ShipmentFailed):
        await shipping.end_picking(
            order_id, status=PickingStatus.FAILED, reason=parcels.reason, at=now
        )
        await uow.publish(parcels)
        return
    assert picking.ship_to is not None
    refusal = await _hand_over(
        uow,
        reservations,
        shipping,
        order_id,
        picking.ship_to,
        held,
        parcels,
        carrier=carrier,
        now=now,
    )
    status = PickingStatus.SHIPPED if refusal is None else PickingStatus.FAILED
    await shipping.end_picking(order_id, status=status, reason=refusal, at=now)
    log.info("order %s picked and handed over: %s", order_id, status.value)


def _numbers(parcels: list[Shipment]) -> str:
    return ", ".join(p.tracking_number for p in parcels)


async def expire_reservations(
    messaging: Messaging, *, batch: int = EXPIRY_BATCH, now: datetime | None = None
) -> int:
    """Release the stock of reservations past their deadline; StockReservationExpired, once.

    One transaction claims up to ``batch`` expired rows (SKIP LOCKED, so replicas share
    the work) and expires each claimed order whose lock it can take: an order whose
    ShipOrder or ReleaseStock is running right now is left for the next scan, which
    then finds it shipped, released or still expired. An order being picked has its
    picking cancelled too, so it is never handed over. Returns how many orders expired.
    """
    async with messaging.unit_of_work() as uow:
        reservations = ReservationRepository(uow.session)
        shipping = ShipmentRepository(uow.session)
        now = now or uow.now()
        expiries: list[tuple[Hold, StockReservationExpired]] = []
        for order_id in await reservations.lock_expired_orders(now=now, limit=batch):
            if not await reservations.try_lock_order(order_id):
                log.info("order %s is busy; its expiry waits for the next scan", order_id)
                continue
            hold = await reservations.lock_whole_hold(order_id)
            expiry = None if hold is None else hold.expiry(now)
            if hold is not None and expiry is not None:
                expiries.append((hold, expiry))
        # One pass over the stock rows in (sku, warehouse) order, like every other writer.
        given_back = list(
            ((r.sku, r.warehouse, str(hold.order_id)), r.quantity, hold)
            for hold, _ in expiries
            for r in hold.reservations
        )
        given_back.sort(key=lambda g: g[0])
        await ledger.move(
            uow,
            (
                Movement(
                    sku=sku,
                    warehouse=warehouse,
                    kind=MovementKind.EXPIRY,
                    quantity=quantity,
                    reserved=-quantity,
                    reason=expiry_reason(hold.time_to_live),
                    reference=order,
                    actor=SYSTEM_ACTOR,
                )
                for (sku, warehouse, order), quantity, hold in given_back
            ),
            at=now,
        )
        for hold, expiry in expiries:
            await reservations.change_reservation_status(
                hold.order_id,
                old=ReservationStatus.RESERVED,
                new=ReservationStatus.EXPIRED,
                at=now,
            )
            await shipping.end_picking(
                hold.order_id,
                status=PickingStatus.CANCELLED,
                reason=EXPIRED_WHILE_PICKING,
                at=now,
            )
            log.info("reservation of order %s expired; stock given back", hold.order_id)
            await uow.publish(expiry)
    return len(expiries)
