"""Inventory handlers on a real, migrated PostgreSQL, including the no-oversell proof."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import insert, select

from orderly_dev.checkout import make_order
from orderly_inventory import handlers
from orderly_inventory.adapters import orm
from orderly_inventory.adapters.carrier import SimulatedCarrier
from orderly_inventory.bootstrap import MIGRATIONS
from orderly_kit import migrations
from orderly_kit.db import Database
from orderly_kit.messaging import Messaging
from orderly_kit.outbox import OutboxSignal
from orderly_schemas.base import StockLine
from orderly_schemas.inventory import ReleaseStock, ReserveStock, ShipOrder

ADDRESS = make_order().shipping_address


@pytest.fixture
async def messaging(fresh_database: str) -> AsyncIterator[Messaging]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    db = Database(fresh_database, pool_size=20)
    async with db.transaction() as s:
        await s.execute(
            insert(orm.warehouses),
            [
                {"code": "east", "name": "East", "region": "east", "priority": 1},
                {"code": "west", "name": "West", "region": "west", "priority": 2},
            ],
        )
        await s.execute(
            insert(orm.stock_levels),
            [
                {"sku": "A", "warehouse": "east", "on_hand": 3},
                {"sku": "A", "warehouse": "west", "on_hand": 5},
                {"sku": "LAST", "warehouse": "east", "on_hand": 10},
            ],
        )
    yield Messaging(
        database=db, outbox=orm.outbox, inbox=orm.inbox, service="inventory", signal=OutboxSignal()
    )
    await db.dispose()


async def levels(m: Messaging, sku: str) -> dict[str, tuple[int, int]]:
    async with m.database.transaction() as s:
        rows = await s.execute(
            select(
                orm.stock_levels.c.warehouse,
                orm.stock_levels.c.on_hand,
                orm.stock_levels.c.reserved,
            ).where(orm.stock_levels.c.sku == sku)
        )
        return {w: (on_hand, reserved) for w, on_hand, reserved in rows}


async def published(m: Messaging) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    import json

    async with m.database.transaction() as s:
        rows = await s.execute(
            select(orm.outbox.c.message_type, orm.outbox.c.payload).order_by(orm.outbox.c.id)
        )
        return [(t, json.loads(p)) for t, p in rows]


async def reserve(m: Messaging, order_id: UUID, **lines: int) -> None:
    async with m.unit_of_work() as uow:
        await handlers.reserve_stock(
            uow,
            ReserveStock(
                order_id=order_id, lines=[StockLine(sku=k, quantity=v) for k, v in lines.items()]
            ),
        )


async def test_a_reservation_is_split_across_warehouses_by_priority(messaging: Messaging) -> None:
    oid = uuid4()
    await reserve(messaging, oid, A=5)
    assert await levels(messaging, "A") == {"east": (3, 3), "west": (5, 2)}
    ((kind, body),) = await published(messaging)
    assert kind == "StockReserved"
    assert [(a["warehouse"], a["quantity"]) for a in body["allocations"]] == [
        ("east", 3),
        ("west", 2),
    ]


async def test_short_stock_reserves_nothing_and_a_repeat_gives_the_same_answer(
    messaging: Messaging,
) -> None:
    oid = uuid4()
    await reserve(messaging, oid, A=2, NOPE=1)
    await reserve(messaging, oid, A=2, NOPE=1)
    assert await levels(messaging, "A") == {"east": (3, 0), "west": (5, 0)}
    answers = await published(messaging)
    assert [t for t, _ in answers] == ["StockReservationFailed"] * 2
    assert answers[0][1]["short_skus"] == ["NOPE"]


async def test_a_repeated_reserve_command_reserves_once(messaging: Messaging) -> None:
    oid = uuid4()
    for _ in range(3):
        await reserve(messaging, oid, A=4)
    assert await levels(messaging, "A") == {"east": (3, 3), "west": (5, 1)}
    assert [t for t, _ in await published(messaging)] == ["StockReserved"] * 3


async def test_release_gives_stock_back_and_is_safe_when_nothing_was_reserved(
    messaging: Messaging,
) -> None:
    oid = uuid4()
    await reserve(messaging, oid, A=4)
    for order in (oid, oid, uuid4()):
        async with messaging.unit_of_work() as uow:
            await handlers.release_stock(uow, ReleaseStock(order_id=order, reason="test"))
    assert await levels(messaging, "A") == {"east": (3, 0), "west": (5, 0)}
    assert [t for t, _ in await published(messaging)][1:] == ["StockReleased"] * 3


async def test_shipping_consumes_the_reservation_once_and_delivery_follows(
    messaging: Messaging,
) -> None:
    oid = uuid4()
    await reserve(messaging, oid, A=4)
    carrier = SimulatedCarrier()
    for _ in range(2):
        async with messaging.unit_of_work() as uow:
            await handlers.ship_order(
                uow,
                ShipOrder(order_id=oid, ship_to=ADDRESS),
                carrier=carrier,
                delivery_delay=timedelta(0),
            )
    assert await levels(messaging, "A") == {"east": (0, 0), "west": (4, 0)}
    assert await handlers.deliver_due_shipments(messaging) == 1
    assert await handlers.deliver_due_shipments(messaging) == 0
    kinds = [t for t, _ in await published(messaging)]
    assert kinds == ["StockReserved", "OrderShipped", "OrderShipped", "ShipmentDelivered"]
    shipped = [b for t, b in await published(messaging) if t == "OrderShipped"]
    assert shipped[0]["tracking_number"] == shipped[1]["tracking_number"]


async def test_shipping_without_a_reservation_fails_with_the_reason(messaging: Messaging) -> None:
    async with messaging.unit_of_work() as uow:
        await handlers.ship_order(
            uow,
            ShipOrder(order_id=uuid4(), ship_to=ADDRESS),
            carrier=SimulatedCarrier(),
            delivery_delay=timedelta(0),
        )
    ((kind, body),) = await published(messaging)
    assert (kind, body["reason"]) == ("ShipmentFailed", "no reserved stock for order")


async def test_concurrent_reservations_never_oversell_the_last_units(messaging: Messaging) -> None:
    orders = [uuid4() for _ in range(40)]
    await asyncio.gather(*(reserve(messaging, oid, LAST=1) for oid in orders))
    assert await levels(messaging, "LAST") == {"east": (10, 10)}
    kinds = [t for t, _ in await published(messaging)]
    assert kinds.count("StockReserved") == 10
    assert kinds.count("StockReservationFailed") == 30
