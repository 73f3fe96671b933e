"""Order handlers against a real, migrated PostgreSQL: rows, history and outbox."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import func, select

from orderly_dev.checkout import make_order
from orderly_kit import migrations
from orderly_kit.db import Database
from orderly_kit.messaging import Messaging
from orderly_kit.outbox import OutboxSignal
from orderly_order import handlers
from orderly_order.adapters import orm
from orderly_order.adapters.orm import order_status_history, orders, outbox
from orderly_order.bootstrap import MIGRATIONS
from orderly_schemas.base import Allocation
from orderly_schemas.inventory import OrderShipped, ShipmentDelivered, StockReserved
from orderly_schemas.payment import PaymentCaptured

NOW = datetime.now(UTC)


@pytest.fixture
async def messaging(fresh_database: str) -> AsyncIterator[Messaging]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    db = Database(fresh_database, pool_size=5)
    yield Messaging(
        database=db, outbox=orm.outbox, inbox=orm.inbox, service="order", signal=OutboxSignal()
    )
    await db.dispose()


async def outbox_types(m: Messaging) -> list[str]:
    async with m.database.transaction() as s:
        return list((await s.scalars(select(outbox.c.message_type).order_by(outbox.c.id))).all())


async def test_an_order_placed_twice_is_numbered_and_confirmed_once(messaging: Messaging) -> None:
    event = make_order(random.Random(1))
    for _ in range(2):
        async with messaging.unit_of_work() as uow:
            await handlers.place_order(uow, event)
    async with messaging.database.transaction() as s:
        rows = (await s.execute(select(orders.c.order_number, orders.c.status))).all()
    assert rows == [("ORD-0000001", "confirmed")]
    assert await outbox_types(messaging) == ["OrderConfirmed", "ReserveStock"]


async def test_the_happy_path_auto_completes_after_the_delay(messaging: Messaging) -> None:
    event = make_order(random.Random(2))
    oid = event.order_id

    async def step(fn, *args, **kw) -> None:  # type: ignore[no-untyped-def]
        async with messaging.unit_of_work() as uow:
            await fn(uow, *args, **kw)

    await step(handlers.place_order, event)
    line = event.lines[0]
    await step(
        handlers.record_stock_reserved,
        StockReserved(
            order_id=oid,
            occurred_at=NOW,
            allocations=[Allocation(sku=line.sku, warehouse="east", quantity=line.quantity)],
        ),
    )
    await step(
        handlers.record_payment_captured,
        PaymentCaptured(
            order_id=oid,
            occurred_at=NOW,
            payment_id="pay_1",
            amount=event.total,
            provider_reference="sim_1",
        ),
    )
    await step(
        handlers.record_order_shipped,
        OrderShipped(
            order_id=oid,
            occurred_at=NOW,
            shipment_id=uuid4(),
            carrier="SimPost",
            tracking_number="SP000000000001",
        ),
    )
    await step(
        handlers.record_shipment_delivered,
        ShipmentDelivered(
            order_id=oid,
            occurred_at=NOW,
            shipment_id=uuid4(),
            tracking_number="SP000000000001",
            delivered_at=NOW,
        ),
        auto_complete_after=timedelta(seconds=0),
    )
    assert await handlers.complete_due_orders(messaging) == 1
    assert await handlers.complete_due_orders(messaging) == 0
    async with messaging.database.transaction() as s:
        history = list(
            (
                await s.scalars(
                    select(order_status_history.c.status).order_by(order_status_history.c.id)
                )
            ).all()
        )
        status = await s.scalar(select(orders.c.status))
    assert history == ["confirmed", "reserved", "paid", "shipped", "delivered", "completed"]
    assert status == "completed"
    assert (await outbox_types(messaging))[-1] == "OrderCompleted"


async def test_concurrent_replies_for_one_order_apply_once(messaging: Messaging) -> None:
    event = make_order(random.Random(3))
    async with messaging.unit_of_work() as uow:
        await handlers.place_order(uow, event)
    reply = StockReserved(
        order_id=event.order_id,
        occurred_at=NOW,
        allocations=[Allocation(sku=event.lines[0].sku, warehouse="east", quantity=1)],
    )

    async def deliver() -> None:
        async with messaging.unit_of_work() as uow:
            await handlers.record_stock_reserved(uow, reply)

    await asyncio.gather(*(deliver() for _ in range(5)))
    assert (await outbox_types(messaging)).count("CapturePayment") == 1
    async with messaging.database.transaction() as s:
        n = await s.scalar(select(func.count()).select_from(order_status_history))
    assert n == 2
