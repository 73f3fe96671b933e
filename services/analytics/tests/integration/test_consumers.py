"""The subscribers route each event type to its handler, through the kit's inbox.

FastStream's in-memory test broker runs the real subscribers, filters and the
kit's transactional middleware against a real database, without joining consumer
groups or creating topics on the session's shared Kafka broker.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker
from sqlalchemy import func, select

from orderly_analytics.adapters.orm import inbox, order_stages, outbox
from orderly_analytics.bootstrap import MIGRATIONS, build
from orderly_analytics.settings import AnalyticsSettings
from orderly_dev.checkout import make_order
from orderly_dev.producer import publish
from orderly_kit import migrations
from orderly_kit.card_data import MARKER
from orderly_kit.service import Service
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.order import (
    OrderCancelled,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderEvent,
    OrderPaid,
    OrderRejected,
)

PLACED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

Event = OrderPlaced | OrderEvent


@pytest.fixture
async def service(fresh_database: str) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    built = build(AnalyticsSettings(database_url=fresh_database, log_json=False))
    built.consumer()  # the subscriber start() builds, for FastStream's test broker
    yield built
    await built.database.dispose()


async def stages(service: Service) -> dict[str, Any]:
    async with service.database.sessions() as session:
        return dict((await session.execute(select(order_stages))).mappings().one())


async def inbox_rows(service: Service) -> int:
    async with service.database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(inbox)) or 0)


def every_event(order: OrderPlaced) -> list[Event]:
    common: dict[str, Any] = {
        "order_id": order.order_id,
        "order_number": "ORD-0000001",
        "customer_id": order.customer.customer_id,
    }

    def at(minutes: int) -> datetime:
        return PLACED_AT + timedelta(minutes=minutes)

    return [
        order,
        OrderConfirmed(
            **common,
            occurred_at=at(1),
            customer_email=order.customer.email,
            lines=order.lines,
            total=order.total,
        ),
        OrderRejected(**common, occurred_at=at(2), reason="short"),
        OrderCancelled(**common, occurred_at=at(3), reason="customer"),
        OrderPaid(**common, occurred_at=at(4), amount=order.total, payment_id="pay_1"),
        OrderDispatched(**common, occurred_at=at(5), carrier="SimPost", tracking_numbers=["SP1"]),
        OrderDelivered(**common, occurred_at=at(6), delivered_at=at(6)),
        OrderCompleted(**common, occurred_at=at(7), confirmed_by="customer"),
    ]


async def test_every_event_type_reaches_its_own_column(service: Service) -> None:
    order: OrderPlaced = make_order(random.Random(1)).model_copy(update={"placed_at": PLACED_AT})
    async with TestKafkaBroker(service.broker) as broker:
        for event in every_event(order):
            await publish(broker, event)
    row = await stages(service)
    stamps = [row[f"{s}_at"] for s in ("placed", "confirmed", "rejected", "cancelled")]
    stamps += [row[f"{s}_at"] for s in ("paid", "dispatched", "delivered", "completed")]
    assert stamps == [PLACED_AT + timedelta(minutes=n) for n in range(8)]
    assert (row["order_number"], row["total_amount"]) == ("ORD-0000001", order.total.amount)


async def test_a_redelivered_message_is_skipped_by_the_inbox(service: Service) -> None:
    order: OrderPlaced = make_order(random.Random(2)).model_copy(update={"placed_at": PLACED_AT})
    async with TestKafkaBroker(service.broker) as broker:
        for _ in range(3):
            await publish(broker, order, message_id="checkout-message-1")
    assert await inbox_rows(service) == 1
    assert (await stages(service))["placed_at"] == PLACED_AT


async def test_an_order_placed_with_a_card_number_is_dead_lettered_unrecorded(
    service: Service,
) -> None:
    card = "4000 0566 5566 5556"  # the schema refuses it too: pydantic must never see it
    order = make_order(random.Random(9), payment_token=card.replace(" ", ""))
    spaced = order.model_dump_json().replace(card.replace(" ", ""), card)

    async with TestKafkaBroker(service.broker) as broker:
        envelope = Envelope(type="OrderPlaced", source="/test", subject=str(order.order_id))
        await broker.publish(
            spaced.encode(),
            topic=order.topic,
            key=str(order.order_id).encode(),
            headers=envelope.to_headers(),
        )

    async with service.database.sessions() as session:
        letters = (await session.execute(select(outbox))).mappings().all()
        assert (await session.execute(select(order_stages))).all() == []
    [letter] = letters
    assert letter["headers"]["dlq_error_type"] == "CardNumberError"
    assert "field payment.token" in letter["headers"]["dlq_error"]
    assert json.loads(letter["payload"])["payment"]["token"] == MARKER
    assert card.replace(" ", "") not in letter["payload"].decode().replace(" ", "")
