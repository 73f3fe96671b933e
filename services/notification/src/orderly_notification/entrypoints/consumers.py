"""Kafka subscribers of the notification service: the public order lifecycle, and the
inventory's low-stock alerts for the warehouse team."""

from __future__ import annotations

from orderly_kit.customers import forget_erased_customers
from orderly_kit.messaging import UnitOfWork
from orderly_kit.service import Service
from orderly_notification import use_cases
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


def register(service: Service, *, channel: Channel) -> None:
    """Subscribe to the order lifecycle and the stock alerts; declare the notification events."""
    assert isinstance(service.settings, NotificationSettings)
    finance = service.settings.finance_recipient
    warehouse = service.settings.warehouse_recipient
    lifecycle = service.subscriber(topics.ORDER_EVENTS)

    @lifecycle.on(OrderConfirmed)
    async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
        await use_cases.notifications.send_order_confirmation(uow, event, channel=channel)

    @lifecycle.on(OrderRejected)
    async def on_order_rejected(event: OrderRejected, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @lifecycle.on(OrderCancelled)
    async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @lifecycle.on(OrderPaid)
    async def on_order_paid(event: OrderPaid, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @lifecycle.on(OrderDispatched)
    async def on_order_dispatched(event: OrderDispatched, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @lifecycle.on(OrderDelivered)
    async def on_order_delivered(event: OrderDelivered, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @lifecycle.on(OrderCompleted)
    async def on_order_completed(event: OrderCompleted, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @lifecycle.on(OrderNeedsAttention)
    async def on_order_needs_attention(event: OrderNeedsAttention, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_finance(uow, event, channel=channel, recipient=finance)

    # Every other inventory event on the topic is skipped (and recorded in the inbox).
    inventory = service.subscriber(topics.INVENTORY_EVENTS)

    @inventory.on(LowStockDetected)
    async def on_low_stock_detected(event: LowStockDetected, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_warehouse(
            uow, event, channel=channel, recipient=warehouse
        )

    @inventory.on(BackInStock)
    async def on_back_in_stock(event: BackInStock, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_warehouse(
            uow, event, channel=channel, recipient=warehouse
        )

    # A customer's erasure destroys the key their email is sealed under.
    forget_erased_customers(service)

    service.publishes(NotificationSent, NotificationFailed)
