"""The orders support knows, from the order lifecycle: whose each is, what it holds, and when
it was delivered (feedback waits for that; a case about an order is its customer's).

Each record is an upsert through the ``KnownOrders`` its unit of work hands out
(``uow.repository``), in the consuming transaction with its inbox row.
"""

from __future__ import annotations

from datetime import datetime

from orderly_kit.messaging import UnitOfWork
from orderly_schemas.order import OrderCompleted, OrderConfirmed, OrderDelivered, OrderEvent
from orderly_support.adapters.orders import KnownOrderRepository, KnownOrders
from orderly_support.domain.after_sales import units_by_sku


def _in_postgres(uow: UnitOfWork) -> KnownOrderRepository:
    return KnownOrderRepository(uow.session)


def _orders(uow: UnitOfWork) -> KnownOrders:
    return uow.repository(_in_postgres)


async def record_order_confirmed(uow: UnitOfWork, event: OrderConfirmed) -> None:
    """Know the order: its number, its customer, the SKUs of its lines and their units (the
    units sold the after-sales report divides returns by)."""
    skus, units = units_by_sku(event.lines)
    await _orders(uow).record_confirmed(
        order_id=event.order_id,
        order_number=event.order_number,
        customer_id=event.customer_id,
        skus=skus,
        units=units,
        confirmed_at=event.occurred_at,
    )


async def record_order_delivered(uow: UnitOfWork, event: OrderDelivered) -> None:
    """The carrier delivered the order: feedback may be given from now."""
    await _delivered(uow, event, event.delivered_at)


async def record_order_completed(uow: UnitOfWork, event: OrderCompleted) -> None:
    """A completed order was delivered: if its delivery was not read first, it is taken as
    delivered when it completed."""
    await _delivered(uow, event, event.occurred_at)


async def _delivered(uow: UnitOfWork, event: OrderEvent, delivered_at: datetime) -> None:
    await _orders(uow).record_delivered(
        order_id=event.order_id,
        order_number=event.order_number,
        customer_id=event.customer_id,
        delivered_at=delivered_at,
    )
