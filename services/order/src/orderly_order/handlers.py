"""The order service's use cases: one function per message or request it handles."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import select

from orderly_kit.messaging import Messaging, UnitOfWork
from orderly_order.adapters.orm import orders
from orderly_order.adapters.repository import OrderRepository
from orderly_order.domain.order import Order, Status
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.inventory import (
    OrderShipped,
    ShipmentDelivered,
    ShipmentFailed,
    StockReservationFailed,
    StockReserved,
)
from orderly_schemas.payment import PaymentCaptured, PaymentFailed

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _repo(uow: UnitOfWork) -> OrderRepository:
    cause = uow.cause
    return OrderRepository(uow.session, caused_by=cause.id if cause else None)


async def _flush(uow: UnitOfWork, repo: OrderRepository, order: Order) -> None:
    await repo.save(order)
    for message in order.messages:
        await uow.publish(message)
    order.messages.clear()


async def place_order(uow: UnitOfWork, event: OrderPlaced) -> None:
    """Accept a placed order once, however often checkout sends it."""
    repo = _repo(uow)
    if await repo.exists(event.order_id):
        log.info("order %s already placed; ignoring the repeat", event.order_id)
        return
    order = Order.place(event, order_number=await repo.next_order_number(), now=_now())
    await repo.add(order)
    for message in order.messages:
        await uow.publish(message)


async def _step(uow: UnitOfWork, order_id: UUID, name: str, act: Callable[[Order], bool]) -> None:
    repo = _repo(uow)
    order = await repo.get(order_id)
    if order is None:
        # Replies only exist for orders we placed; the kit retries, then dead-letters.
        raise LookupError(f"{name} for unknown order {order_id}")
    if act(order):
        await _flush(uow, repo, order)
    else:
        log.info("%s ignored: order %s is %s", name, order.order_number, order.status.value)


async def record_stock_reserved(uow: UnitOfWork, event: StockReserved) -> None:
    await _step(uow, event.order_id, "StockReserved", lambda o: o.stock_reserved(_now()))


async def record_stock_reservation_failed(uow: UnitOfWork, event: StockReservationFailed) -> None:
    await _step(
        uow,
        event.order_id,
        "StockReservationFailed",
        lambda o: o.stock_reservation_failed(event.reason, _now()),
    )


async def record_payment_captured(uow: UnitOfWork, event: PaymentCaptured) -> None:
    await _step(
        uow,
        event.order_id,
        "PaymentCaptured",
        lambda o: o.payment_captured(event.payment_id, event.amount, _now()),
    )


async def record_payment_failed(uow: UnitOfWork, event: PaymentFailed) -> None:
    await _step(
        uow, event.order_id, "PaymentFailed", lambda o: o.payment_failed(event.reason, _now())
    )


async def record_order_shipped(uow: UnitOfWork, event: OrderShipped) -> None:
    await _step(
        uow,
        event.order_id,
        "OrderShipped",
        lambda o: o.shipped(event.carrier, event.tracking_number, _now()),
    )


async def record_shipment_failed(uow: UnitOfWork, event: ShipmentFailed) -> None:
    await _step(
        uow, event.order_id, "ShipmentFailed", lambda o: o.shipment_failed(event.reason, _now())
    )


async def record_shipment_delivered(
    uow: UnitOfWork, event: ShipmentDelivered, *, auto_complete_after: timedelta
) -> None:
    await _step(
        uow,
        event.order_id,
        "ShipmentDelivered",
        lambda o: o.delivered(event.delivered_at, auto_complete_after, _now()),
    )


async def confirm_receipt(uow: UnitOfWork, order_id: UUID) -> Order | None:
    """The customer confirms receipt; raises OrderStateError if the order is not delivered."""
    repo = _repo(uow)
    order = await repo.get(order_id)
    if order is None:
        return None
    if order.complete(confirmed_by="customer", now=_now()):
        await _flush(uow, repo, order)
    return order


async def complete_due_orders(messaging: Messaging, *, batch: int = 100) -> int:
    """Complete delivered orders whose auto-confirm delay has passed; returns how many."""
    async with messaging.unit_of_work() as uow:
        due = (
            await uow.session.scalars(
                select(orders.c.order_id)
                .where(orders.c.status == Status.DELIVERED.value)
                .where(orders.c.auto_complete_at <= _now())
                .order_by(orders.c.auto_complete_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        repo = _repo(uow)
        for order_id in due:
            order = await repo.get(order_id)
            if order is not None and order.complete(confirmed_by="auto-confirm", now=_now()):
                await _flush(uow, repo, order)
    return len(due)
