"""The subscribers route each lifecycle event to its handler, through the kit's inbox.

FastStream's in-memory test broker runs the real subscribers, filters and the
kit's transactional middleware against a real database, without joining consumer
groups or creating topics on the session's shared Kafka broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from sqlalchemy import select

from orderly_dev.notifications import AT, confirmed, later_events
from orderly_dev.producer import publish
from orderly_kit import migrations
from orderly_kit.service import Service
from orderly_notification.adapters.orm import notifications, outbox
from orderly_notification.bootstrap import MIGRATIONS, build
from orderly_notification.settings import NotificationSettings
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.inventory import BackInStock, LowStockDetected, StockEvent
from orderly_schemas.order import (
    OrderEvent,
)


@pytest.fixture
async def service(fresh_database: str) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    built = build(NotificationSettings(database_url=fresh_database, log_json=False))
    built.consumer()  # the subscriber start() builds, for FastStream's test broker
    yield built
    await built.database.dispose()


def every_event() -> list[OrderEvent]:
    order_id = uuid4()
    return [confirmed(order_id), *later_events(order_id)]


async def notified_types(service: Service) -> list[str]:
    query = select(notifications.c.event_type).order_by(notifications.c.created_at)
    async with service.database.sessions() as session:
        return list((await session.scalars(query)).all())


async def outbox_types(service: Service) -> list[str]:
    query = select(outbox.c.message_type).order_by(outbox.c.id)
    async with service.database.sessions() as session:
        return list((await session.scalars(query)).all())


async def test_every_lifecycle_event_is_notified(service: Service) -> None:
    events = every_event()

    async with TestKafkaBroker(service.broker) as broker:
        for n, event in enumerate(events):
            await publish(broker, event, message_id=f"m{n}")

    assert await notified_types(service) == [e.message_type() for e in events]
    assert await outbox_types(service) == ["NotificationSent"] * len(events)


async def test_a_redelivered_event_is_skipped_by_the_inbox(service: Service) -> None:
    first = every_event()[0]

    async with TestKafkaBroker(service.broker) as broker:
        for _ in range(3):
            await publish(broker, first, message_id="m-confirmed")

    assert await notified_types(service) == ["OrderConfirmed"]
    assert await outbox_types(service) == ["NotificationSent"]


async def publish_stock(broker: KafkaBroker, event: StockEvent, *, message_id: str) -> None:
    envelope = Envelope(
        id=message_id, type=event.message_type(), source="/orderly/inventory", subject=event.sku
    )
    await broker.publish(
        event.model_dump_json().encode(),
        topic=event.topic,
        key=event.sku.encode(),
        headers=envelope.to_headers(),
    )


async def test_stock_alerts_reach_the_warehouse_team_once_each(service: Service) -> None:
    where = {"sku": "MUG-1", "warehouse": "east", "occurred_at": AT, "safety_stock": 10}

    async with TestKafkaBroker(service.broker) as broker:
        await publish_stock(broker, LowStockDetected(**where, available=3), message_id="m-low")
        await publish_stock(broker, LowStockDetected(**where, available=3), message_id="m-low")
        await publish_stock(broker, BackInStock(**where, available=12), message_id="m-back")

    query = select(notifications.c.template, notifications.c.recipient).order_by(
        notifications.c.created_at
    )
    async with service.database.sessions() as session:
        sent = [tuple(r) for r in await session.execute(query)]
    assert sent == [
        ("low-stock", "warehouse@orderly.example"),
        ("back-in-stock", "warehouse@orderly.example"),
    ]
    assert await outbox_types(service) == ["NotificationSent", "NotificationSent"]
