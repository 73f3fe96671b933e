"""Kafka subscribers of the support service: the order lifecycle, for the orders support
knows (whose each is, its SKUs and units, its delivery) and the claims settled; the steps of
returns the after-sales report counts; and CustomerErased, on which support forgets the
customer's words. Every other event of those topics is skipped by its type, unread (the
kit routes by the CloudEvents type header before it parses a body): reading
order.returns.v1 costs a fetch of one more topic and one statement per return step kept.
"""

from __future__ import annotations

from orderly_kit.messaging import UnitOfWork
from orderly_kit.service import Service
from orderly_schemas import topics
from orderly_schemas.order import OrderClaimed, OrderCompleted, OrderConfirmed, OrderDelivered
from orderly_schemas.personal import CustomerErased
from orderly_schemas.returns import (
    ReturnCompleted,
    ReturnReceived,
    ReturnReplacementShipped,
    ReturnReplacementUnavailable,
    ReturnRequested,
)
from orderly_schemas.support import (
    CaseClosed,
    CaseOpened,
    CaseSlaBreached,
    CaseStatusChanged,
    FeedbackGiven,
)
from orderly_support import use_cases


def register(service: Service) -> None:
    """Subscribe to the order lifecycle, the returns and CustomerErased; declare the support
    events."""
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

    @lifecycle.on(OrderClaimed)
    async def on_order_claimed(event: OrderClaimed, uow: UnitOfWork) -> None:
        await use_cases.after_sales.record_order_claimed(uow, event)

    # Not ReturnApproved, ReturnRejected, ReturnLabelIssued, ReturnExpired or
    # ReturnNeedsAttention: the report counts none of them.
    returns = service.subscriber(topics.ORDER_RETURNS)

    @returns.on(ReturnRequested)
    async def on_return_requested(event: ReturnRequested, uow: UnitOfWork) -> None:
        await use_cases.after_sales.record_return_requested(uow, event)

    @returns.on(ReturnReceived)
    async def on_return_received(event: ReturnReceived, uow: UnitOfWork) -> None:
        await use_cases.after_sales.record_return_received(uow, event)

    @returns.on(ReturnReplacementShipped)
    async def on_return_replacement_shipped(
        event: ReturnReplacementShipped, uow: UnitOfWork
    ) -> None:
        await use_cases.after_sales.record_replacement_shipped(uow, event)

    @returns.on(ReturnReplacementUnavailable)
    async def on_return_replacement_unavailable(
        event: ReturnReplacementUnavailable, uow: UnitOfWork
    ) -> None:
        await use_cases.after_sales.record_replacement_unavailable(uow, event)

    @returns.on(ReturnCompleted)
    async def on_return_completed(event: ReturnCompleted, uow: UnitOfWork) -> None:
        await use_cases.after_sales.record_return_completed(uow, event)

    # The kit's forget_erased_customers destroys the key alone; support also clears what
    # rows written before sealing keep in plaintext.
    @service.subscriber(topics.CUSTOMER_EVENTS).on(CustomerErased)
    async def on_customer_erased(event: CustomerErased, uow: UnitOfWork) -> None:
        await use_cases.customers.forget_customer(uow, event)

    service.publishes(FeedbackGiven, CaseOpened, CaseStatusChanged, CaseSlaBreached, CaseClosed)
