"""Kafka subscribers of the support service: the order lifecycle, for the orders support
knows (whose each is, its SKUs, its delivery); every other lifecycle event is skipped."""

from __future__ import annotations

from orderly_kit.messaging import UnitOfWork
from orderly_kit.service import Service
from orderly_schemas import topics
from orderly_schemas.order import OrderCompleted, OrderConfirmed, OrderDelivered
from orderly_schemas.support import (
    CaseClosed,
    CaseOpened,
    CaseSlaBreached,
    CaseStatusChanged,
    FeedbackGiven,
)
from orderly_support import use_cases


def register(service: Service) -> None:
    """Subscribe to the order lifecycle; declare the support events."""
    lifecycle = service.subscriber(topics.ORDER_EVENTS)

    @lifecycle.on(OrderConfirmed)
    async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
        await use_cases.orders.record_order_confirmed(uow, event)

    @lifecycle.on(OrderDelivered)
    async def on_order_delivered(event: OrderDelivered, uow: UnitOfWork) -> None:
        await use_cases.orders.record_order_delivered(uow, event)

    @lifecycle.on(OrderCompleted)
    async def on_order_completed(event: OrderCompleted, uow: UnitOfWork) -> None:
        await use_cases.orders.record_order_completed(uow, event)

    service.publishes(FeedbackGiven, CaseOpened, CaseStatusChanged, CaseSlaBreached, CaseClosed)
