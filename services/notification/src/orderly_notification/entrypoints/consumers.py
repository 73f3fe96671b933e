"""Kafka subscribers of the notification service: the public order lifecycle, each step of a
return and of a case, and the inventory's low-stock alerts for the warehouse team."""

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
    OrderClaimed,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderNeedsAttention,
    OrderPaid,
    OrderRejected,
    OrderReshipped,
)
from orderly_schemas.returns import (
    ReturnApproved,
    ReturnCompleted,
    ReturnExpired,
    ReturnLabelIssued,
    ReturnNeedsAttention,
    ReturnReceived,
    ReturnRejected,
    ReturnReplacementShipped,
    ReturnReplacementUnavailable,
    ReturnRequested,
)
from orderly_schemas.support import (
    CaseClosed,
    CaseOpened,
    CaseSlaBreached,
    CaseStatusChanged,
)


def register(service: Service, *, channel: Channel) -> None:
    """Subscribe to the order lifecycle, the returns and the stock alerts; declare the
    notification events."""
    assert isinstance(service.settings, NotificationSettings)
    finance = service.settings.finance_recipient
    warehouse = service.settings.warehouse_recipient
    support = service.settings.support_recipient
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
        await use_cases.notifications.notify_staff(uow, event, channel=channel, recipient=finance)

    @lifecycle.on(OrderClaimed)
    async def on_order_claimed(event: OrderClaimed, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @lifecycle.on(OrderReshipped)
    async def on_order_reshipped(event: OrderReshipped, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    cases = service.subscriber(topics.SUPPORT_EVENTS)

    @cases.on(CaseOpened)
    async def on_case_opened(event: CaseOpened, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_case_customer(uow, event, channel=channel)

    @cases.on(CaseStatusChanged)
    async def on_case_status_changed(event: CaseStatusChanged, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_case_customer(uow, event, channel=channel)

    @cases.on(CaseClosed)
    async def on_case_closed(event: CaseClosed, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_case_customer(uow, event, channel=channel)

    @cases.on(CaseSlaBreached)
    async def on_case_sla_breached(event: CaseSlaBreached, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_staff(uow, event, channel=channel, recipient=support)

    returns = service.subscriber(topics.ORDER_RETURNS)

    @returns.on(ReturnRequested)
    async def on_return_requested(event: ReturnRequested, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @returns.on(ReturnApproved)
    async def on_return_approved(event: ReturnApproved, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @returns.on(ReturnRejected)
    async def on_return_rejected(event: ReturnRejected, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @returns.on(ReturnLabelIssued)
    async def on_return_label_issued(event: ReturnLabelIssued, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @returns.on(ReturnReceived)
    async def on_return_received(event: ReturnReceived, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @returns.on(ReturnReplacementShipped)
    async def on_return_replacement_shipped(
        event: ReturnReplacementShipped, uow: UnitOfWork
    ) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @returns.on(ReturnReplacementUnavailable)
    async def on_return_replacement_unavailable(
        event: ReturnReplacementUnavailable, uow: UnitOfWork
    ) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @returns.on(ReturnCompleted)
    async def on_return_completed(event: ReturnCompleted, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @returns.on(ReturnExpired)
    async def on_return_expired(event: ReturnExpired, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_customer(uow, event, channel=channel)

    @returns.on(ReturnNeedsAttention)
    async def on_return_needs_attention(event: ReturnNeedsAttention, uow: UnitOfWork) -> None:
        await use_cases.notifications.notify_staff(uow, event, channel=channel, recipient=support)

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
