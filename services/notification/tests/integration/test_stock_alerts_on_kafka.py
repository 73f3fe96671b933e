"""The service started in-process on a real broker: the inventory's stock alerts reach the
warehouse team once each, and the other inventory events pass by, leaving nothing behind.

The broker is a private Tansu started for this module, not the session's: a started
service joins its consumer groups on the real topic names, which would interfere
with the ``stack`` fixture sharing the session broker. PostgreSQL is the session's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from orderly_dev.eventually import eventually
from orderly_dev.servers import Kafka
from orderly_kit.service import Service
from orderly_notification.adapters.orm import inbox, notifications, outbox
from orderly_notification.bootstrap import build
from orderly_notification.settings import NotificationSettings
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.inventory import BackInStock, LowStockDetected, StockAdjusted, StockEvent

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WHERE = {"sku": "MUG-1", "warehouse": "east", "occurred_at": AT, "safety_stock": 10}


@pytest.fixture
async def running(fresh_database: str, kafka: Kafka) -> AsyncIterator[Service]:
    service = build(
        NotificationSettings(
            database_url=fresh_database,
            kafka_bootstrap_servers=kafka.bootstrap,
            migrate_on_start=True,
            create_topics=True,
            topic_partitions=2,
            outbox_poll_interval_ms=50,
            warehouse_recipient="stock-team@shop.example",
            log_json=False,
        )
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def send(producer: AIOKafkaProducer, event: StockEvent, message_id: str) -> None:
    envelope = Envelope(
        id=message_id, type=event.message_type(), source="/orderly/inventory", subject=event.sku
    )
    await producer.send_and_wait(
        event.topic,
        event.model_dump_json().encode(),
        key=event.sku.encode(),
        headers=[(k, v.encode()) for k, v in envelope.to_headers().items()],
    )


async def counts(service: Service, query: object, expected: int) -> bool:
    async with service.database.sessions() as session:
        found = (await session.execute(query)).scalar_one()  # type: ignore[call-overload]
    return bool(found == expected)


async def test_stock_alerts_over_kafka_are_sent_to_the_warehouse_team_once(
    running: Service, kafka: Kafka
) -> None:
    adjusted = StockAdjusted(
        sku="MUG-1",
        warehouse="east",
        occurred_at=AT,
        quantity_change=-8,
        on_hand=3,
        reason="broken",
        actor="ops",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await send(producer, adjusted, "m-adjusted")
        await send(producer, LowStockDetected(**WHERE, available=3), "m-low")
        await send(producer, LowStockDetected(**WHERE, available=3), "m-low")  # redelivered
        await send(producer, BackInStock(**WHERE, available=12), "m-back")
    finally:
        await producer.stop()

    # Each alert reached the inbox once (the redelivery was a duplicate); a type the
    # service does not handle leaves no row. Each alert was sent once.
    inbox_rows = select(func.count()).select_from(inbox)
    await eventually(lambda: counts(running, inbox_rows, 2), within=30, what="2 inbox rows")
    unsent = select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
    await eventually(lambda: counts(running, unsent, 0), within=10, what="every outbox row sent")
    query = select(
        notifications.c.template, notifications.c.recipient, notifications.c.subject
    ).order_by(notifications.c.created_at)
    async with running.database.sessions() as session:
        sent = [tuple(r) for r in await session.execute(query)]
        announced = (await session.execute(select(outbox.c.message_type))).scalars().all()
    assert sent == [
        ("low-stock", "stock-team@shop.example", "Low stock: MUG-1 at east (3 available)"),
        ("back-in-stock", "stock-team@shop.example", "Back in stock: MUG-1 at east (12 available)"),
    ]
    assert announced == ["NotificationSent", "NotificationSent"]
