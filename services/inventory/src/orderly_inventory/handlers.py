"""The inventory service's use cases: reserve, release, ship, deliver.

Every handler runs inside the caller's unit of work (one transaction with the
inbox and outbox) and first takes the order's lock, so that two commands of one
order never interleave, whatever is redelivered or re-sent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from orderly_inventory.adapters.carrier import Carrier
from orderly_inventory.adapters.repository import InventoryRepository
from orderly_inventory.domain.allocation import Shortage, allocate
from orderly_inventory.domain.reservations import (
    RequestOutcome,
    Reservation,
    ReservationRequest,
    ReservationStatus,
)
from orderly_inventory.domain.shipments import NO_RESERVED_STOCK, Shipment, ShipmentStatus
from orderly_kit.messaging import Messaging, UnitOfWork
from orderly_schemas.base import Allocation
from orderly_schemas.inventory import (
    OrderShipped,
    ReleaseStock,
    ReserveStock,
    ShipmentDelivered,
    ShipmentFailed,
    ShipOrder,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)

log = logging.getLogger(__name__)

DELIVERY_BATCH = 200


def _now() -> datetime:
    return datetime.now(UTC)


async def reserve_stock(uow: UnitOfWork, command: ReserveStock) -> None:
    """Reserve every line or none; a repeated command repeats the first answer."""
    repo = InventoryRepository(uow.session)
    await repo.lock_order(command.order_id)
    previous = await repo.request_of(command.order_id)
    if previous is not None:
        log.info("ReserveStock for order %s already answered: %s", command.order_id, previous)
        await _answer_again(uow, repo, command.order_id, previous)
        return
    lines = [(line.sku, line.quantity) for line in command.lines]
    stock = await repo.lock_stock(sku for sku, _ in lines)
    result = allocate(lines, stock)
    now = _now()
    if isinstance(result, Shortage):
        failed = ReservationRequest(RequestOutcome.FAILED, result.reason, result.short_skus)
        await repo.record_request(command.order_id, failed)
        await uow.publish(_failed(command.order_id, failed, at=now))
        return
    for pick in result:
        await repo.change_stock(pick.sku, pick.warehouse, reserved=pick.quantity, at=now)
    await repo.add_reservations(command.order_id, result, at=now)
    await repo.record_request(
        command.order_id, ReservationRequest(RequestOutcome.RESERVED, None, [])
    )
    await uow.publish(
        StockReserved(
            order_id=command.order_id,
            occurred_at=now,
            allocations=[
                Allocation(sku=p.sku, warehouse=p.warehouse, quantity=p.quantity) for p in result
            ],
        )
    )


async def _answer_again(
    uow: UnitOfWork, repo: InventoryRepository, order_id: UUID, previous: ReservationRequest
) -> None:
    if previous.outcome is RequestOutcome.FAILED:
        await uow.publish(_failed(order_id, previous, at=_now()))
        return
    await uow.publish(
        StockReserved(
            order_id=order_id,
            occurred_at=_now(),
            allocations=_allocations(await repo.reservations_of(order_id)),
        )
    )


def _failed(order_id: UUID, request: ReservationRequest, *, at: datetime) -> StockReservationFailed:
    return StockReservationFailed(
        order_id=order_id,
        occurred_at=at,
        reason=request.reason or "insufficient stock",
        short_skus=request.short_skus,
    )


def _allocations(held: list[Reservation]) -> list[Allocation]:
    return [Allocation(sku=r.sku, warehouse=r.warehouse, quantity=r.quantity) for r in held]


async def release_stock(uow: UnitOfWork, command: ReleaseStock) -> None:
    """Give back what the order still holds; safe when nothing was ever reserved."""
    repo = InventoryRepository(uow.session)
    await repo.lock_order(command.order_id)
    now = _now()
    held = await repo.reservations_of(
        command.order_id, status=ReservationStatus.RESERVED, lock=True
    )
    for r in held:
        await repo.change_stock(r.sku, r.warehouse, reserved=-r.quantity, at=now)
    await repo.change_reservation_status(
        command.order_id, old=ReservationStatus.RESERVED, new=ReservationStatus.RELEASED, at=now
    )
    if not held:
        log.info("nothing reserved for order %s; release is a no-op", command.order_id)
    await uow.publish(
        StockReleased(order_id=command.order_id, occurred_at=now, reason=command.reason)
    )


async def ship_order(
    uow: UnitOfWork, command: ShipOrder, *, carrier: Carrier, delivery_delay: timedelta
) -> None:
    """Pick the reserved stock and hand it to the carrier, once."""
    repo = InventoryRepository(uow.session)
    await repo.lock_order(command.order_id)
    existing = await repo.shipment_of(command.order_id)
    if existing is not None:
        log.info("order %s already shipped as %s", command.order_id, existing.tracking_number)
        await uow.publish(_shipped(existing))
        return
    now = _now()
    held = await repo.reservations_of(
        command.order_id, status=ReservationStatus.RESERVED, lock=True
    )
    if not held:
        await uow.publish(
            ShipmentFailed(order_id=command.order_id, occurred_at=now, reason=NO_RESERVED_STOCK)
        )
        return
    for r in held:
        await repo.change_stock(
            r.sku, r.warehouse, on_hand=-r.quantity, reserved=-r.quantity, at=now
        )
    await repo.change_reservation_status(
        command.order_id, old=ReservationStatus.RESERVED, new=ReservationStatus.SHIPPED, at=now
    )
    consignment = await carrier.book(
        order_id=command.order_id,
        ship_to=command.ship_to,
        parcels=len({r.warehouse for r in held}),
    )
    shipment = Shipment(
        shipment_id=uuid4(),
        order_id=command.order_id,
        carrier=consignment.carrier,
        tracking_number=consignment.tracking_number,
        status=ShipmentStatus.SHIPPED,
        shipped_at=now,
        deliver_after=now + delivery_delay,
    )
    await repo.add_shipment(shipment)
    await uow.publish(_shipped(shipment))


def _shipped(shipment: Shipment) -> OrderShipped:
    return OrderShipped(
        order_id=shipment.order_id,
        occurred_at=shipment.shipped_at,
        shipment_id=shipment.shipment_id,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
    )


async def deliver_due_shipments(messaging: Messaging, *, batch: int = DELIVERY_BATCH) -> int:
    """The simulated carrier's delivery scan: due shipments become delivered, once.

    Rows are claimed with SKIP LOCKED, so several replicas can scan at once; the
    status change and ShipmentDelivered commit together. Returns how many were delivered.
    """
    async with messaging.unit_of_work() as uow:
        repo = InventoryRepository(uow.session)
        now = _now()
        due = await repo.lock_due_shipments(now=now, limit=batch)
        for shipment in due:
            await repo.mark_delivered(shipment.shipment_id, at=now)
            await uow.publish(
                ShipmentDelivered(
                    order_id=shipment.order_id,
                    occurred_at=now,
                    shipment_id=shipment.shipment_id,
                    tracking_number=shipment.tracking_number,
                    delivered_at=now,
                )
            )
    return len(due)
