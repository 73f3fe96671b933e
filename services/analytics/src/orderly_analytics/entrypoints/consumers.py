"""Kafka subscribers of the analytics service: every event it folds into a read model."""

from __future__ import annotations

from faststream import Context

from orderly_analytics import handlers
from orderly_kit.messaging import UOW_CONTEXT_KEY, UnitOfWork
from orderly_kit.service import Service, of_type
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

UOW = Context(UOW_CONTEXT_KEY)


def register(service: Service) -> None:
    """Subscribe the analytics service's handlers; it publishes nothing."""
    checkout = service.subscriber(topics.CHECKOUT_ORDERS)

    @checkout(filter=of_type(OrderPlaced))
    async def on_order_placed(event: OrderPlaced, uow: UnitOfWork = UOW) -> None:
        await handlers.record_order_placed(uow, event)

    lifecycle = service.subscriber(topics.ORDER_EVENTS)

    @lifecycle(filter=of_type(OrderConfirmed))
    async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork = UOW) -> None:
        await handlers.record_order_lifecycle(uow, event)

    @lifecycle(filter=of_type(OrderRejected))
    async def on_order_rejected(event: OrderRejected, uow: UnitOfWork = UOW) -> None:
        await handlers.record_order_lifecycle(uow, event)

    @lifecycle(filter=of_type(OrderCancelled))
    async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork = UOW) -> None:
        await handlers.record_order_lifecycle(uow, event)

    @lifecycle(filter=of_type(OrderPaid))
    async def on_order_paid(event: OrderPaid, uow: UnitOfWork = UOW) -> None:
        await handlers.record_order_lifecycle(uow, event)

    @lifecycle(filter=of_type(OrderDispatched))
    async def on_order_dispatched(event: OrderDispatched, uow: UnitOfWork = UOW) -> None:
        await handlers.record_order_lifecycle(uow, event)

    @lifecycle(filter=of_type(OrderDelivered))
    async def on_order_delivered(event: OrderDelivered, uow: UnitOfWork = UOW) -> None:
        await handlers.record_order_lifecycle(uow, event)

    @lifecycle(filter=of_type(OrderCompleted))
    async def on_order_completed(event: OrderCompleted, uow: UnitOfWork = UOW) -> None:
        await handlers.record_order_lifecycle(uow, event)

    @lifecycle(filter=of_type(OrderNeedsAttention))
    async def on_order_needs_attention(event: OrderNeedsAttention, uow: UnitOfWork = UOW) -> None:
        await handlers.record_order_lifecycle(uow, event)
