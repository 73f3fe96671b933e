"""Kafka subscribers of the notification service: the public order lifecycle, and the
inventory's low-stock alerts for the warehouse team."""

from __future__ import annotations

from faststream import Context

from orderly_kit.messaging import UOW_CONTEXT_KEY, UnitOfWork
from orderly_kit.service import Service, of_type
from orderly_notification import handlers
from orderly_notification.adapters.channels import Channel
from orderly_notification.settings import NotificationSettings
from orderly_schemas import topics
from orderly_schemas.inventory import BackInStock, LowStockDetected
from orderly_schemas.notification import NotificationFailed, NotificationSent
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


def register(service: Service, *, channel: Channel) -> None:
    """Subscribe to the order lifecycle and the stock alerts; declare the notification events."""
    assert isinstance(service.settings, NotificationSettings)
    finance = service.settings.finance_recipient
    warehouse = service.settings.warehouse_recipient
    lifecycle = service.subscriber(topics.ORDER_EVENTS)

    @lifecycle(filter=of_type(OrderConfirmed))
    async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork = UOW) -> None:
        await handlers.send_order_confirmation(uow, event, channel=channel)

    @lifecycle(filter=of_type(OrderRejected))
    async def on_order_rejected(event: OrderRejected, uow: UnitOfWork = UOW) -> None:
        await handlers.notify_customer(uow, event, channel=channel)

    @lifecycle(filter=of_type(OrderCancelled))
    async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork = UOW) -> None:
        await handlers.notify_customer(uow, event, channel=channel)

    @lifecycle(filter=of_type(OrderPaid))
    async def on_order_paid(event: OrderPaid, uow: UnitOfWork = UOW) -> None:
        await handlers.notify_customer(uow, event, channel=channel)

    @lifecycle(filter=of_type(OrderDispatched))
    async def on_order_dispatched(event: OrderDispatched, uow: UnitOfWork = UOW) -> None:
        await handlers.notify_customer(uow, event, channel=channel)

    @lifecycle(filter=of_type(OrderDelivered))
    async def on_order_delivered(event: OrderDelivered, uow: UnitOfWork = UOW) -> None:
        await handlers.notify_customer(uow, event, channel=channel)

    @lifecycle(filter=of_type(OrderCompleted))
    async def on_order_completed(event: OrderCompleted, uow: UnitOfWork = UOW) -> None:
        await handlers.notify_customer(uow, event, channel=channel)

    @lifecycle(filter=of_type(OrderNeedsAttention))
    async def on_order_needs_attention(event: OrderNeedsAttention, uow: UnitOfWork = UOW) -> None:
        await handlers.notify_finance(uow, event, channel=channel, recipient=finance)

    # Every other inventory event on the topic is skipped (and recorded in the inbox).
    inventory = service.subscriber(topics.INVENTORY_EVENTS)

    @inventory(filter=of_type(LowStockDetected))
    async def on_low_stock_detected(event: LowStockDetected, uow: UnitOfWork = UOW) -> None:
        await handlers.notify_warehouse(uow, event, channel=channel, recipient=warehouse)

    @inventory(filter=of_type(BackInStock))
    async def on_back_in_stock(event: BackInStock, uow: UnitOfWork = UOW) -> None:
        await handlers.notify_warehouse(uow, event, channel=channel, recipient=warehouse)

    service.publishes(NotificationSent, NotificationFailed)
