"""Kafka subscribers of the analytics service: every event it folds into a read model."""

from __future__ import annotations

from orderly_analytics import use_cases
from orderly_kit.messaging import UnitOfWork
from orderly_kit.service import Service
from orderly_schemas import topics
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.order import (
    OrderCancelled,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderNeedsAttention,
    OrderPaid,
    OrderRejected,
)


def register(service: Service) -> None:
    """Subscribe the analytics service's handlers; it publishes nothing."""
    checkout = service.subscriber(topics.CHECKOUT_ORDERS)

    @checkout.on(OrderPlaced)
    async def on_order_placed(event: OrderPlaced, uow: UnitOfWork) -> None:
        await use_cases.order_stages.record_order_placed(uow, event)

    lifecycle = service.subscriber(topics.ORDER_EVENTS)

    @lifecycle.on(OrderConfirmed)
    async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
        await use_cases.order_stages.record_order_lifecycle(uow, event)

    @lifecycle.on(OrderRejected)
    async def on_order_rejected(event: OrderRejected, uow: UnitOfWork) -> None:
        await use_cases.order_stages.record_order_lifecycle(uow, event)

    @lifecycle.on(OrderCancelled)
    async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
        await use_cases.order_stages.record_order_lifecycle(uow, event)

    @lifecycle.on(OrderPaid)
    async def on_order_paid(event: OrderPaid, uow: UnitOfWork) -> None:
        await use_cases.order_stages.record_order_lifecycle(uow, event)

    @lifecycle.on(OrderDispatched)
    async def on_order_dispatched(event: OrderDispatched, uow: UnitOfWork) -> None:
        await use_cases.order_stages.record_order_lifecycle(uow, event)

    @lifecycle.on(OrderDelivered)
    async def on_order_delivered(event: OrderDelivered, uow: UnitOfWork) -> None:
        await use_cases.order_stages.record_order_lifecycle(uow, event)

    @lifecycle.on(OrderCompleted)
    async def on_order_completed(event: OrderCompleted, uow: UnitOfWork) -> None:
        await use_cases.order_stages.record_order_lifecycle(uow, event)

    @lifecycle.on(OrderNeedsAttention)
    async def on_order_needs_attention(event: OrderNeedsAttention, uow: UnitOfWork) -> None:
        await use_cases.order_stages.record_order_lifecycle(uow, event)
