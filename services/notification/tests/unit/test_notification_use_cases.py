"""The notification use cases without a database: who is told what, once, and what a
failed send or a too-early event does.

Each message is handled in a unit of work of its own over notifications kept in memory.
``tests/integration/test_notifications.py`` runs the same use cases on PostgreSQL (the
recipient upsert, the insert-once by consumed message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from orderly_dev.notifications import (
    AT,
    EMAIL,
    TOTAL,
    VAULT,
    RecordingChannel,
    common,
    confirmed,
    later_events,
)
from orderly_dev.unit_of_work import FakeUnitOfWork
from orderly_kit.clock import ManualClock
from orderly_notification import use_cases
from orderly_notification.domain.notifications import (
    Notification,
    NotificationStatus,
    Recipient,
    RecipientUnknownError,
)
from orderly_schemas.base import Message
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.inventory import BackInStock, LowStockDetected
from orderly_schemas.notification import NotificationFailed, NotificationSent
from orderly_schemas.order import OrderConfirmed, OrderEvent, OrderNeedsAttention
from orderly_schemas.returns import ReturnEvent, ReturnLabelIssued, ReturnNeedsAttention
from orderly_schemas.support import CaseClosed, CaseOpened, CaseStatusChanged

#: How notifications name the customer of ``orderly_dev.notifications.common``.
CUSTOMER = "customer:C00007"


@dataclass
class FakeNotifications:
    """``Notifications`` in memory: recipients by order, notifications by consumed message."""

    recipients: dict[UUID, Recipient] = field(default_factory=dict)
    by_message: dict[str, Notification] = field(default_factory=dict)

    async def remember_recipient(self, *, order_id: UUID, customer_id: str, email: str) -> bool:
        self.recipients[order_id] = Recipient.customer(customer_id, email)
        return True

    async def recipient_of(self, order_id: UUID) -> Recipient | None:
        return self.recipients.get(order_id)

    async def recipient_of_customer(self, customer_id: str) -> Recipient | None:
        mine = [r for r in self.recipients.values() if r.shown_as == f"customer:{customer_id}"]
        return mine[-1] if mine else None

    async def add_once(self, notification: Notification) -> bool:
        if notification.source_message_id in self.by_message:
            return False
        self.by_message[notification.source_message_id] = notification
        return True

    async def record_failure(self, notification: Notification) -> None:
        self.by_message[notification.source_message_id] = notification


class Notifier:
    """The notification service's world: what it remembers, its channel and its clock."""

    def __init__(self, channel: RecordingChannel | None = None) -> None:
        self.notifications = FakeNotifications()
        self.channel = channel or RecordingChannel()
        self.clock = ManualClock(AT)
        self.published: list[Message] = []

    def unit_of_work(
        self, message_id: str | None, event: Message
    ) -> FakeUnitOfWork[FakeNotifications]:
        cause = (
            None
            if message_id is None
            else Envelope(id=message_id, type=event.message_type(), source="/test")
        )
        return FakeUnitOfWork(self.notifications, clock=self.clock, cause=cause, vault=VAULT)

    async def deliver(self, event: OrderEvent | ReturnEvent, *, message_id: str | None) -> None:
        """Handle ``event`` as the consumer would, as the message ``message_id``."""
        uow = self.unit_of_work(message_id, event)
        if isinstance(event, OrderConfirmed):
            await use_cases.notifications.send_order_confirmation(uow, event, channel=self.channel)
        else:
            await use_cases.notifications.notify_customer(uow, event, channel=self.channel)
        self.published += uow.published

    def recorded(self) -> list[Notification]:
        return list(self.notifications.by_message.values())


async def test_a_confirmation_remembers_the_customer_and_tells_them_once_recorded() -> None:
    notifier = Notifier()
    order_id = uuid4()
    notifier.clock.advance(timedelta(seconds=5))

    await notifier.deliver(confirmed(order_id), message_id="m-confirmed")

    assert notifier.notifications.recipients == {order_id: Recipient(EMAIL, CUSTOMER)}
    [sent] = notifier.recorded()
    assert (sent.event_type, sent.template, sent.status, sent.recipient) == (
        "OrderConfirmed",
        "order_confirmed",
        NotificationStatus.SENT,
        CUSTOMER,  # named by id: the address is never recorded or published
    )
    assert (sent.source_message_id, sent.created_at) == ("m-confirmed", AT + timedelta(seconds=5))
    assert notifier.channel.sent == [(EMAIL, sent.subject)]
    assert notifier.published == [sent.outcome()]
    assert isinstance(notifier.published[0], NotificationSent)


@pytest.mark.parametrize(
    "index", range(6), ids=["rejected", "cancelled", "paid", "dispatched", "delivered", "completed"]
)
async def test_a_later_step_is_told_to_the_remembered_customer(index: int) -> None:
    notifier = Notifier()
    order_id = uuid4()
    await notifier.deliver(confirmed(order_id), message_id="m-confirmed")
    event = later_events(order_id)[index]

    await notifier.deliver(event, message_id="m-later")

    told = notifier.notifications.by_message["m-later"]
    assert (told.event_type, told.recipient, told.order_id) == (  # by id, sent to the address
        event.message_type(),
        CUSTOMER,
        order_id,
    )
    assert notifier.channel.sent[-1] == (EMAIL, told.subject)
    assert notifier.published[-1] == told.outcome()


async def test_a_redelivered_message_tells_nobody_twice() -> None:
    notifier = Notifier()
    order_id = uuid4()
    await notifier.deliver(confirmed(order_id), message_id="m-confirmed")
    paid = later_events(order_id)[2]
    await notifier.deliver(paid, message_id="m-paid")

    await notifier.deliver(paid, message_id="m-paid")

    assert (len(notifier.recorded()), len(notifier.channel.sent), len(notifier.published)) == (
        2,
        2,
        2,
    )


async def test_a_step_before_the_confirmation_waits_for_it() -> None:
    notifier = Notifier()
    paid = later_events(uuid4())[2]

    with pytest.raises(RecipientUnknownError, match="ORD-0000007"):
        await notifier.deliver(paid, message_id="m-paid")

    assert (notifier.recorded(), notifier.channel.sent, notifier.published) == ([], [], [])


async def test_a_send_that_fails_is_recorded_as_failed_and_announced() -> None:
    notifier = Notifier(RecordingChannel(failure=ConnectionError("relay refused")))

    await notifier.deliver(confirmed(uuid4()), message_id="m-confirmed")

    [failed] = notifier.recorded()
    assert (failed.status, failed.failure_reason) == (
        NotificationStatus.FAILED,
        "ConnectionError: relay refused",
    )
    [announced] = notifier.published
    assert isinstance(announced, NotificationFailed)
    assert announced.reason == "ConnectionError: relay refused"


async def test_a_notification_answers_a_consumed_message_only() -> None:
    notifier = Notifier()

    with pytest.raises(ValueError, match="answers a consumed message"):
        await notifier.deliver(confirmed(uuid4()), message_id=None)

    assert notifier.channel.sent == []


async def test_money_the_saga_could_not_settle_is_told_to_finance_not_the_customer() -> None:
    notifier = Notifier()
    order_id = uuid4()
    await notifier.deliver(confirmed(order_id), message_id="m-confirmed")
    event = OrderNeedsAttention(**common(order_id), reason="refund failed", amount=TOTAL)
    uow = notifier.unit_of_work("m-attention", event)

    await use_cases.notifications.notify_staff(
        uow, event, channel=notifier.channel, recipient="finance@shop.example"
    )

    told = notifier.notifications.by_message["m-attention"]
    assert (told.template, told.recipient) == ("order_needs_attention", "finance@shop.example")
    assert notifier.channel.sent[-1][0] == "finance@shop.example"


@pytest.mark.parametrize("alert", [LowStockDetected, BackInStock])
async def test_a_stock_alert_is_told_to_the_warehouse_team(
    alert: type[LowStockDetected] | type[BackInStock],
) -> None:
    notifier = Notifier()
    event = alert(sku="MUG-1", warehouse="east", occurred_at=AT, available=3, safety_stock=10)
    uow = notifier.unit_of_work("m-stock", event)

    await use_cases.notifications.notify_warehouse(
        uow, event, channel=notifier.channel, recipient="warehouse@shop.example"
    )

    told = notifier.notifications.by_message["m-stock"]
    assert (told.order_id, told.recipient, told.event_type) == (
        None,
        "warehouse@shop.example",
        alert.message_type(),
    )
    assert [type(m) for m in uow.published] == [NotificationSent]


def a_return(order_id: UUID) -> dict[str, object]:
    return {
        **common(order_id),
        "return_id": uuid4(),
        "return_number": "RMA-0000003",
        "lines": [{"sku": "MUG-1", "quantity": 1}],
        "reason": "damaged",
    }


async def test_each_step_of_a_return_is_told_to_the_customer_of_its_order() -> None:
    notifier = Notifier()
    order_id = uuid4()
    await notifier.deliver(confirmed(order_id), message_id="m-confirmed")
    label = ReturnLabelIssued.model_validate(
        {
            **a_return(order_id),
            "carrier": "SimPost",
            "tracking_number": "SR0000000001",
            "warehouse": "east",
            "expires_at": AT + timedelta(days=14),
        }
    )

    await notifier.deliver(label, message_id="m-label")

    told = notifier.notifications.by_message["m-label"]
    assert (told.template, told.recipient, told.order_id) == (
        "return_label_issued",
        CUSTOMER,
        order_id,
    )
    assert "SR0000000001" in told.body
    assert notifier.channel.sent[-1] == (EMAIL, told.subject)


async def test_a_return_that_needs_attention_is_told_to_support_not_the_customer() -> None:
    notifier = Notifier()
    order_id = uuid4()
    await notifier.deliver(confirmed(order_id), message_id="m-confirmed")
    event = ReturnNeedsAttention.model_validate(
        {**a_return(order_id), "attention_reason": "refund failed after 5 attempt(s): declined"}
    )

    await use_cases.notifications.notify_staff(
        notifier.unit_of_work("m-attention", event),
        event,
        channel=notifier.channel,
        recipient="support@shop.example",
    )

    told = notifier.notifications.by_message["m-attention"]
    assert (told.template, told.recipient) == ("return_needs_attention", "support@shop.example")
    assert f"POST /returns/{event.return_id}/retry" in told.body
    assert EMAIL not in [to for to, _ in notifier.channel.sent[1:]]


def a_case(order_id: UUID | None) -> dict[str, object]:
    return {
        "case_id": uuid4(),
        "case_number": "CS-0000009",
        "category": "delivery",
        "customer_id": "C00007",
        "order_id": order_id,
        "order_number": "ORD-0000001" if order_id else None,
        "occurred_at": AT,
    }


async def test_each_step_of_a_case_its_customer_sees_is_told_and_supports_own_moves_are_not() -> (
    None
):
    notifier = Notifier()
    order_id = uuid4()
    await notifier.deliver(confirmed(order_id), message_id="m-confirmed")
    steps: list[tuple[str, CaseOpened | CaseStatusChanged | CaseClosed]] = [
        (
            "m-opened",
            CaseOpened.model_validate(
                {
                    **a_case(order_id),
                    "opened_by": "customer",
                    "first_response_due_at": AT + timedelta(hours=24),
                    "resolution_due_at": AT + timedelta(hours=72),
                }
            ),
        ),
        ("m-open", CaseStatusChanged(**a_case(order_id), from_status="new", to_status="open")),
        (
            "m-resolved",
            CaseStatusChanged(**a_case(order_id), from_status="open", to_status="resolved"),
        ),
        ("m-closed", CaseClosed(**a_case(order_id), satisfaction=None)),
        ("m-rated", CaseClosed(**a_case(order_id), satisfaction=4)),
    ]

    for message_id, event in steps:
        await use_cases.notifications.notify_case_customer(
            notifier.unit_of_work(message_id, event), event, channel=notifier.channel
        )

    told = {
        m: n.template for m, n in notifier.notifications.by_message.items() if m != "m-confirmed"
    }
    assert told == {
        "m-opened": "case_opened",
        "m-resolved": "case_resolved",
        "m-closed": "case_closed",
        "m-rated": "case_rated",
    }
    assert {n.recipient for n in notifier.recorded()} == {CUSTOMER}
    assert {n.order_id for n in notifier.recorded()} == {order_id}


async def test_a_case_without_an_order_reaches_its_customer_at_their_latest_order() -> None:
    notifier = Notifier()
    await notifier.deliver(confirmed(uuid4()), message_id="m-confirmed")
    mine = CaseClosed(**a_case(None), satisfaction=None)
    stranger = CaseClosed(**{**a_case(None), "customer_id": "C99999"}, satisfaction=None)

    for message_id, event in (("m-mine", mine), ("m-stranger", stranger)):
        await use_cases.notifications.notify_case_customer(
            notifier.unit_of_work(message_id, event), event, channel=notifier.channel
        )

    assert notifier.notifications.by_message["m-mine"].recipient == CUSTOMER
    assert "m-stranger" not in notifier.notifications.by_message  # nowhere to write: skipped


async def test_a_case_of_an_order_not_yet_known_waits_for_its_confirmation() -> None:
    notifier = Notifier()
    event = CaseClosed(**a_case(uuid4()), satisfaction=None)

    with pytest.raises(RecipientUnknownError, match="CS-0000009"):
        await use_cases.notifications.notify_case_customer(
            notifier.unit_of_work("m-early", event), event, channel=notifier.channel
        )
