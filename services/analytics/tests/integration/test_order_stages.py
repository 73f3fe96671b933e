"""The order_stages read model on a real, migrated PostgreSQL: any arrival order, any repeat."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from orderly_analytics import use_cases
from orderly_analytics.adapters import orm
from orderly_analytics.adapters.orm import order_stages
from orderly_analytics.bootstrap import MIGRATIONS
from orderly_dev.checkout import happy_path, make_order
from orderly_kit import migrations
from orderly_kit.db import Database
from orderly_kit.messaging import Messaging
from orderly_kit.outbox import OutboxSignal
from orderly_schemas.base import Message
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.order import (
    OrderEvent,
    OrderRejected,
)

PLACED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
async def messaging(fresh_database: str) -> AsyncIterator[Messaging]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    db = Database(fresh_database, pool_size=5)
    yield Messaging(
        database=db, outbox=orm.outbox, inbox=orm.inbox, service="analytics", signal=OutboxSignal()
    )
    await db.dispose()


def an_order(seed: int) -> OrderPlaced:
    order: OrderPlaced = make_order(random.Random(seed)).model_copy(update={"placed_at": PLACED_AT})
    return order


async def feed(messaging: Messaging, *events: Message) -> None:
    """Handle each event in its own transaction, as the consumers do."""
    for event in events:
        async with messaging.unit_of_work() as uow:
            if isinstance(event, OrderPlaced):
                await use_cases.order_stages.record_order_placed(uow, event)
            else:
                assert isinstance(event, OrderEvent)
                await use_cases.order_stages.record_order_lifecycle(uow, event)


async def row_of(messaging: Messaging, order_id: UUID) -> dict[str, Any]:
    async with messaging.database.sessions() as session:
        row = (
            (await session.execute(select(order_stages).where(order_stages.c.order_id == order_id)))
            .mappings()
            .one()
        )
    return dict(row)


def completed_row(order: OrderPlaced) -> dict[str, Any]:
    """The row every arrival order of ``happy_path(order)`` must end in."""
    return {
        "order_id": order.order_id,
        "order_number": "ORD-0000001",
        "customer_id": order.customer.customer_id,
        "currency": "EUR",
        "total_amount": order.total.amount,
        "status": "completed",
        "placed_at": PLACED_AT,
        "confirmed_at": PLACED_AT + 1 * MINUTE,
        "paid_at": PLACED_AT + 2 * MINUTE,
        "dispatched_at": PLACED_AT + 3 * MINUTE,
        "delivered_at": PLACED_AT + 4 * MINUTE,
        "completed_at": PLACED_AT + 5 * MINUTE,
        "rejected_at": None,
        "cancelled_at": None,
        "needs_attention_at": None,
    }


def without_updated_at(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "updated_at"}


async def test_the_happy_path_in_order_stamps_every_stage(messaging: Messaging) -> None:
    order = an_order(1)
    await feed(messaging, *happy_path(order))
    assert without_updated_at(await row_of(messaging, order.order_id)) == completed_row(order)


async def test_lifecycle_events_before_order_placed_are_kept_and_completed_by_it(
    messaging: Messaging,
) -> None:
    order = an_order(2)
    placed, confirmed, paid, dispatched, *_ = happy_path(order)
    await feed(messaging, dispatched, paid)
    early = await row_of(messaging, order.order_id)
    await feed(messaging, confirmed, placed)
    row = await row_of(messaging, order.order_id)
    assert (early["status"], early["placed_at"], early["total_amount"]) == (
        "dispatched",
        None,
        None,
    )
    assert row["status"] == "dispatched"
    assert (row["placed_at"], row["confirmed_at"]) == (PLACED_AT, PLACED_AT + MINUTE)
    assert (row["customer_id"], row["total_amount"]) == (
        order.customer.customer_id,
        order.total.amount,
    )


async def test_completion_before_delivery_keeps_the_order_completed(messaging: Messaging) -> None:
    order = an_order(3)
    *earlier, delivered, completed = happy_path(order)
    await feed(messaging, completed, *earlier, delivered)
    assert without_updated_at(await row_of(messaging, order.order_id)) == completed_row(order)


async def test_a_rejected_order_is_rejected(messaging: Messaging) -> None:
    order = an_order(4)
    rejected = OrderRejected(
        order_id=order.order_id,
        order_number="ORD-0000001",
        customer_id=order.customer.customer_id,
        occurred_at=PLACED_AT + MINUTE,
        reason="DEMO-0001 is short by 2",
    )
    await feed(messaging, rejected, order)
    row = await row_of(messaging, order.order_id)
    assert (row["status"], row["rejected_at"], row["placed_at"]) == (
        "rejected",
        PLACED_AT + MINUTE,
        PLACED_AT,
    )


async def test_a_repeated_event_changes_nothing(messaging: Messaging) -> None:
    order = an_order(5)
    placed, confirmed, paid, *_ = happy_path(order)
    await feed(messaging, placed, confirmed, paid)
    before = await row_of(messaging, order.order_id)
    later_paid = paid.model_copy(update={"occurred_at": PLACED_AT + 9 * MINUTE})
    await feed(messaging, paid, placed, confirmed, later_paid)
    assert await row_of(messaging, order.order_id) == before


async def test_any_arrival_order_ends_in_the_same_row(messaging: Messaging) -> None:
    rng = random.Random(42)
    orders = [an_order(100 + n) for n in range(12)]
    for order in orders:
        events = happy_path(order)
        rng.shuffle(events)
        await feed(messaging, *events)
    for order in orders:
        row = await row_of(messaging, order.order_id)
        assert without_updated_at(row) == completed_row(order)


async def test_concurrent_events_of_one_order_all_land(messaging: Messaging) -> None:
    order = an_order(6)
    await asyncio.gather(*(feed(messaging, event) for event in happy_path(order)))
    assert without_updated_at(await row_of(messaging, order.order_id)) == completed_row(order)
