"""The notification service's use cases: tell the customer about each step of their order
and of their returns.

A notification is sent inside the consuming transaction, so a crash after the
channel accepted it but before the commit sends it again on redelivery: delivery
to the customer is at least once, the record and the announcement exactly once.
"""

from __future__ import annotations

import logging
from uuid import uuid4

from orderly_kit.messaging import PoisonMessageError, UnitOfWork
from orderly_notification.adapters.channels import Channel
from orderly_notification.adapters.repository import NotificationRepository, Notifications
from orderly_notification.domain.notifications import (
    Notification,
    NotificationStatus,
    Recipient,
    RecipientUnknownError,
)
from orderly_notification.domain.templates import Notified, render
from orderly_schemas.inventory import BackInStock, LowStockDetected
from orderly_schemas.order import OrderConfirmed, OrderEvent, OrderNeedsAttention
from orderly_schemas.personal import CUSTOMER_EMAIL
from orderly_schemas.returns import ReturnEvent, ReturnNeedsAttention
from orderly_schemas.support import (
    CaseClosed,
    CaseEvent,
    CaseOpened,
    CaseSlaBreached,
    CaseStatusChanged,
)

log = logging.getLogger(__name__)


def _in_postgres(uow: UnitOfWork) -> NotificationRepository:
    return NotificationRepository(uow.session, vault=uow.vault, clock=uow.now)


def _notifications(uow: UnitOfWork) -> Notifications:
    return uow.repository(_in_postgres)


async def send_order_confirmation(
    uow: UnitOfWork, event: OrderConfirmed, *, channel: Channel
) -> None:
    """Remember the customer's address (sealed), then confirm the order to them."""
    email = (
        event.customer_email
        if event.personal is None  # published before emails were sealed
        else uow.vault.open_sealed(event.personal)[CUSTOMER_EMAIL]
    )
    if email is None:
        raise PoisonMessageError(
            f"OrderConfirmed of order {event.order_number} carries no email, sealed or not"
        )
    repo = _notifications(uow)
    if not await repo.remember_recipient(
        order_id=event.order_id, customer_id=event.customer_id, email=email
    ):
        log.info(
            "customer %s was erased: order %s is not confirmed to them",
            event.customer_id,
            event.order_number,
        )
        return
    await notify_customer(uow, event, channel=channel)


async def notify_customer(
    uow: UnitOfWork, event: OrderEvent | ReturnEvent, *, channel: Channel
) -> None:
    """Render the event's message, send it to the customer, record it and announce it, once."""
    repo = _notifications(uow)
    recipient = await repo.recipient_of(event.order_id)
    if recipient is None:
        # Retried by the kit: OrderConfirmed comes first on the order's partition.
        raise RecipientUnknownError(
            f"no recipient known for order {event.order_number} ({event.order_id}) yet;"
            f" {event.message_type()} waits for its OrderConfirmed"
        )
    if recipient.address is None:
        log.info(
            "%s was erased: nothing sent about order %s", recipient.shown_as, event.order_number
        )
        return
    await _notify(uow, event, channel=channel, recipient=recipient)


#: The steps of a case its customer is told of (a case's other moves are support's own).
CASE_STEPS_TOLD = frozenset({"waiting_on_customer", "resolved"})


async def notify_case_customer(
    uow: UnitOfWork, event: CaseOpened | CaseStatusChanged | CaseClosed, *, channel: Channel
) -> None:
    """Tell a case's customer that it was opened, that it waits for them, that it was
    resolved, or that it closed: at the address of its order, or of their latest order."""
    if isinstance(event, CaseStatusChanged) and event.to_status not in CASE_STEPS_TOLD:
        return
    repo = _notifications(uow)
    if event.order_id is not None:
        recipient = await repo.recipient_of(event.order_id)
        if recipient is None:
            raise RecipientUnknownError(
                f"no recipient known for order {event.order_number} ({event.order_id}) yet;"
                f" case {event.case_number} waits for its OrderConfirmed"
            )
    else:
        recipient = await repo.recipient_of_customer(event.customer_id)
        if recipient is None:
            log.info(
                "case %s: customer %s has no order, so no address; told in the case only",
                event.case_number,
                event.customer_id,
            )
            return
    if recipient.address is None:
        log.info("%s was erased: nothing sent about case %s", recipient.shown_as, event.case_number)
        return
    await _notify(uow, event, channel=channel, recipient=recipient)


async def notify_staff(
    uow: UnitOfWork,
    event: OrderNeedsAttention | ReturnNeedsAttention | CaseSlaBreached,
    *,
    channel: Channel,
    recipient: str,
) -> None:
    """Tell a team (finance, support) about an order or a return the sagas could not settle,
    or a case that missed an agreement."""
    await _notify(uow, event, channel=channel, recipient=Recipient.staff(recipient))


async def notify_warehouse(
    uow: UnitOfWork, event: LowStockDetected | BackInStock, *, channel: Channel, recipient: str
) -> None:
    """Tell the warehouse team that a SKU's available stock crossed its safety stock."""
    await _notify(uow, event, channel=channel, recipient=Recipient.staff(recipient))


async def _notify(
    uow: UnitOfWork,
    event: Notified,
    *,
    channel: Channel,
    recipient: Recipient,
) -> None:
    assert recipient.address is not None
    if uow.cause is None:
        raise ValueError("a notification answers a consumed message; this unit of work has none")
    source_message_id = uow.cause.id
    repo = _notifications(uow)
    message = render(event)
    notification = Notification(
        notification_id=uuid4(),
        order_id=event.order_id
        if isinstance(event, OrderEvent | ReturnEvent | CaseEvent)
        else None,
        event_type=event.message_type(),
        template=message.template,
        channel=channel.name,
        recipient=recipient.shown_as,
        subject=message.subject,
        body=message.body,
        status=NotificationStatus.SENT,
        failure_reason=None,
        source_message_id=source_message_id,
        created_at=uow.now(),
    )
    # Recorded first, one per consumed message: a message whose notification exists
    # (replayed after its inbox row was pruned) sends nothing. The record commits with
    # the outcome, so a failed send below is recorded as failed, never as sent.
    if not await repo.add_once(notification):
        log.info("message %s was already notified; nothing sent", source_message_id)
        return
    try:
        await channel.send(recipient=recipient.address, subject=message.subject, body=message.body)
    except Exception as exc:
        notification = notification.failed(f"{type(exc).__name__}: {exc}")
        await repo.record_failure(notification)
        log.warning("%s for %s failed: %s", message.template, _about(event), exc)
    await uow.publish(notification.outcome())


def _about(event: Notified) -> str:
    if isinstance(event, ReturnEvent):
        return f"return {event.return_number}"
    if isinstance(event, OrderEvent):
        return f"order {event.order_number}"
    if isinstance(event, CaseEvent):
        return f"case {event.case_number}"
    return f"{event.sku} at {event.warehouse}"
