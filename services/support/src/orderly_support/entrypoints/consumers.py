"""Kafka subscribers of the support service: the order lifecycle, for the orders support
knows (whose each is, its SKUs, its delivery), every other lifecycle event skipped; and
CustomerErased, on which support forgets the customer's words."""

from __future__ import annotations

from orderly_kit.messaging import UnitOfWork
from orderly_kit.service import Service
from orderly_schemas import topics
from orderly_schemas.order import OrderCompleted, OrderConfirmed, OrderDelivered
from orderly_schemas.personal import CustomerErased
from orderly_schemas.support import (
    CaseClosed,
    CaseOpened,
    CaseSlaBreached,
    CaseStatusChanged,
    FeedbackGiven,
)
from orderly_support import use_cases


def register(service: Service) -> None:
    """Subscribe to the order lifecycle and to CustomerErased; declare the support events."""
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

    # The kit's forget_erased_customers destroys the key alone; support also clears what
    # rows written before sealing keep in plaintext.
    @service.subscriber(topics.CUSTOMER_EVENTS).on(CustomerErased)
    async def on_customer_erased(event: CustomerErased, uow: UnitOfWork) -> None:
        await use_cases.customers.forget_customer(uow, event)

    service.publishes(FeedbackGiven, CaseOpened, CaseStatusChanged, CaseSlaBreached, CaseClosed)
