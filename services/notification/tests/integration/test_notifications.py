"""Notification handlers against a real, migrated PostgreSQL: rows, sends and outbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import select

from orderly_dev.notifications import (
    AT,
    EMAIL,
    TOTAL,
    RecordingChannel,
    common,
    confirmed,
    later_events,
)
from orderly_kit import migrations
from orderly_kit.db import Database
from orderly_kit.messaging import UnitOfWork
from orderly_kit.personal_data import vault_from
from orderly_notification import use_cases
from orderly_notification.adapters import orm
from orderly_notification.adapters.orm import notifications, outbox, recipients
from orderly_notification.bootstrap import MIGRATIONS
from orderly_notification.domain.notifications import RecipientUnknownError
from orderly_notification.settings import NotificationSettings
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.inventory import LowStockDetected
from orderly_schemas.order import (
    OrderConfirmed,
    OrderEvent,
    OrderNeedsAttention,
)
from orderly_schemas.support import CaseClosed

#: How notifications name the customer of ``orderly_dev.notifications.common``.
CUSTOMER = "customer:C00007"
#: The service's vault as its development settings make it.
VAULT = vault_from(NotificationSettings(), orm.customer_keys)


@pytest.fixture
async def database(fresh_database: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    db = Database(fresh_database, pool_size=5)
    yield db
    await db.dispose()


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()


async def deliver(
    database: Database, event: OrderEvent, channel: RecordingChannel, *, message_id: str
) -> None:
    """Handle ``event`` as the consumer would, as the message ``message_id``."""
    cause = Envelope(id=message_id, type=event.message_type(), source="/test")
    async with database.transaction() as session:
        uow = UnitOfWork(session, outbox=orm.outbox, source="/test", cause=cause, vault=VAULT)
        if isinstance(event, OrderConfirmed):
            await use_cases.notifications.send_order_confirmation(uow, event, channel=channel)
        else:
            await use_cases.notifications.notify_customer(uow, event, channel=channel)


async def notification_rows(database: Database) -> list[dict[str, Any]]:
    async with database.sessions() as s:
        query = select(notifications).order_by(notifications.c.created_at)
        return [dict(r) for r in (await s.execute(query)).mappings()]


async def published(database: Database) -> list[tuple[str, dict[str, Any]]]:
    async with database.sessions() as s:
        query = select(outbox.c.message_type, outbox.c.payload).order_by(outbox.c.id)
        return [(t, json.loads(p)) for t, p in (await s.execute(query)).all()]


async def test_a_confirmation_remembers_the_customer_and_notifies_them(
    database: Database, channel: RecordingChannel
) -> None:
    order_id = uuid4()

    await deliver(database, confirmed(order_id), channel, message_id="m-confirmed")

    async with database.sessions() as s:
        recipient = (await s.execute(select(recipients))).mappings().one()
        [key] = (await s.execute(select(orm.customer_keys))).mappings()
    # Kept sealed under this service's own key for the customer, never in plaintext.
    assert (recipient["order_id"], recipient["email"]) == (order_id, None)
    assert EMAIL.encode() not in recipient["email_sealed"]
    own_key = VAULT.key_of_row(key["key_id"], key["wrapped_key"])
    assert VAULT.open(own_key, "C00007", "customer_email", recipient["email_sealed"]) == EMAIL
    [row] = await notification_rows(database)
    assert (row["event_type"], row["template"], row["status"]) == (
        "OrderConfirmed",
        "order_confirmed",
        "sent",
    )
    assert (row["recipient"], row["channel"], row["source_message_id"]) == (
        CUSTOMER,
        "recording",
        "m-confirmed",
    )
    assert channel.sent == [(EMAIL, row["subject"])]
    [(kind, body)] = await published(database)
    assert kind == "NotificationSent"
    assert body["notification_id"] == str(row["notification_id"])
    assert (body["order_id"], body["recipient"], body["template"]) == (
        str(order_id),
        CUSTOMER,
        "order_confirmed",
    )


@pytest.mark.parametrize(
    "index", range(6), ids=["rejected", "cancelled", "paid", "dispatched", "delivered", "completed"]
)
async def test_a_later_event_notifies_the_remembered_customer(
    database: Database, channel: RecordingChannel, index: int
) -> None:
    order_id = uuid4()
    await deliver(database, confirmed(order_id), channel, message_id="m-confirmed")
    event = later_events(order_id)[index]

    await deliver(database, event, channel, message_id="m-later")

    row = (await notification_rows(database))[-1]
    assert (row["event_type"], row["recipient"], row["status"]) == (
        event.message_type(),
        CUSTOMER,
        "sent",
    )
    assert row["order_id"] == order_id
    kind, body = (await published(database))[-1]
    assert (kind, body["notification_id"]) == ("NotificationSent", str(row["notification_id"]))


async def test_a_redelivered_event_sends_and_records_nothing_new(
    database: Database, channel: RecordingChannel
) -> None:
    order_id = uuid4()
    await deliver(database, confirmed(order_id), channel, message_id="m-confirmed")
    paid = later_events(order_id)[2]
    await deliver(database, paid, channel, message_id="m-paid")

    await deliver(database, paid, channel, message_id="m-paid")

    assert len(await notification_rows(database)) == 2
    assert len(await published(database)) == 2
    assert len(channel.sent) == 2


async def test_an_event_before_the_confirmation_waits_for_it(
    database: Database, channel: RecordingChannel
) -> None:
    paid = later_events(uuid4())[2]

    with pytest.raises(RecipientUnknownError, match="ORD-0000007"):
        await deliver(database, paid, channel, message_id="m-paid")

    assert await notification_rows(database) == []
    assert channel.sent == []


async def test_a_channel_failure_is_recorded_and_announced(database: Database) -> None:
    order_id = uuid4()
    channel = RecordingChannel(failure=ConnectionError("mail relay refused the connection"))

    await deliver(database, confirmed(order_id), channel, message_id="m-confirmed")

    [row] = await notification_rows(database)
    assert (row["status"], row["failure_reason"]) == (
        "failed",
        "ConnectionError: mail relay refused the connection",
    )
    [(kind, body)] = await published(database)
    assert (kind, body["reason"]) == ("NotificationFailed", row["failure_reason"])


async def test_an_order_needing_attention_is_reported_to_finance_not_the_customer(
    database: Database, channel: RecordingChannel
) -> None:
    order_id = uuid4()
    await deliver(database, confirmed(order_id), channel, message_id="m-confirmed")
    event = OrderNeedsAttention(**common(order_id), reason="refund failed", amount=TOTAL)
    cause = Envelope(id="m-attention", type=event.message_type(), source="/test")

    for _ in range(2):  # redelivered: reported once
        async with database.transaction() as session:
            uow = UnitOfWork(session, outbox=orm.outbox, source="/test", cause=cause, vault=VAULT)
            await use_cases.notifications.notify_staff(
                uow, event, channel=channel, recipient="finance@shop.example"
            )

    row = (await notification_rows(database))[-1]
    assert (row["template"], row["recipient"]) == ("order_needs_attention", "finance@shop.example")
    assert channel.sent[-1][0] == "finance@shop.example"
    assert len(channel.sent) == 2


async def test_a_low_stock_alert_goes_to_the_warehouse_team_once(
    database: Database, channel: RecordingChannel
) -> None:
    low = LowStockDetected(
        sku="MUG-1", warehouse="east", occurred_at=AT, available=3, safety_stock=10
    )
    cause = Envelope(id="m-low", type=low.message_type(), source="/orderly/inventory")

    for _ in range(2):  # redelivered: sent and recorded once
        async with database.transaction() as session:
            uow = UnitOfWork(session, outbox=orm.outbox, source="/test", cause=cause, vault=VAULT)
            await use_cases.notifications.notify_warehouse(
                uow, low, channel=channel, recipient="warehouse@shop.example"
            )

    [row] = await notification_rows(database)
    assert (row["order_id"], row["event_type"], row["template"], row["recipient"]) == (
        None,
        "LowStockDetected",
        "low-stock",
        "warehouse@shop.example",
    )
    assert channel.sent == [("warehouse@shop.example", "Low stock: MUG-1 at east (3 available)")]
    [(kind, body)] = await published(database)
    assert (kind, body["order_id"], body["template"]) == ("NotificationSent", None, "low-stock")


async def test_a_case_without_an_order_is_told_at_the_customers_latest_order_address(
    database: Database, channel: RecordingChannel
) -> None:
    await deliver(database, confirmed(uuid4()), channel, message_id="m-first")
    await deliver(database, confirmed(uuid4()), channel, message_id="m-second")
    closed = CaseClosed(
        case_id=uuid4(),
        case_number="CS-0000009",
        category="other",
        customer_id="C00007",
        occurred_at=AT,
        satisfaction=None,
    )
    cause = Envelope(id="m-case", type=closed.message_type(), source="/test")
    async with database.transaction() as session:
        uow = UnitOfWork(session, outbox=orm.outbox, source="/test", cause=cause, vault=VAULT)
        await use_cases.notifications.notify_case_customer(uow, closed, channel=channel)

    row = (await notification_rows(database))[-1]
    assert (row["template"], row["recipient"], row["order_id"]) == (
        "case_closed",
        CUSTOMER,
        None,
    )
    assert channel.sent[-1] == (EMAIL, "Your case CS-0000009 is closed")
