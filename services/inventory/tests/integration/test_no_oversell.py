"""No oversell under concurrency: row locks are the mechanism, the CHECK the last defence."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from orderly_inventory.adapters import orm

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from conftest import Inventory


async def test_forty_concurrent_orders_for_the_last_ten_units_get_exactly_ten(
    inventory: Inventory,
) -> None:
    await inventory.stock("LAST", east=10)
    orders = [uuid4() for _ in range(40)]

    await asyncio.gather(*(inventory.reserve(order, ("LAST", 1)) for order in orders))

    kinds = await inventory.kinds()
    assert kinds.count("StockReserved") == 10
    assert kinds.count("StockReservationFailed") == 30
    assert await inventory.levels("LAST") == {"east": (10, 10)}


async def test_concurrent_orders_over_shared_skus_in_any_line_order_never_deadlock(
    inventory: Inventory,
) -> None:
    for sku in ("A", "B", "C"):
        await inventory.stock(sku, east=7, west=7)
    rng = random.Random(7)
    orders = []
    for _ in range(30):
        lines = [("A", 1), ("B", 1), ("C", 1)]
        rng.shuffle(lines)
        orders.append((uuid4(), lines))

    # A deadlock would surface here as an error from PostgreSQL's deadlock detector.
    await asyncio.gather(*(inventory.reserve(order, *lines) for order, lines in orders))

    kinds = await inventory.kinds()
    assert kinds.count("StockReserved") == 14
    assert kinds.count("StockReservationFailed") == 16
    for sku in ("A", "B", "C"):
        assert await inventory.levels(sku) == {"east": (7, 7), "west": (7, 7)}


async def test_concurrent_repeats_of_one_reserve_stock_reserve_once(inventory: Inventory) -> None:
    await inventory.stock("A", east=10)
    order = uuid4()

    await asyncio.gather(*(inventory.reserve(order, ("A", 3)) for _ in range(10)))

    assert await inventory.kinds() == ["StockReserved"] * 10
    assert await inventory.levels("A") == {"east": (10, 3)}


async def test_concurrent_ship_and_release_of_one_order_do_one_or_the_other(
    inventory: Inventory,
) -> None:
    await inventory.stock("A", east=5)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))

    await asyncio.gather(inventory.ship(order), inventory.release(order), inventory.ship(order))

    levels = await inventory.levels("A")
    assert levels in ({"east": (3, 0)}, {"east": (5, 0)})
    kinds = (await inventory.kinds())[1:]
    assert sorted(kinds) in (
        ["OrderShipped", "OrderShipped", "StockReleased"],
        ["ShipmentFailed", "ShipmentFailed", "StockReleased"],
    )


async def test_the_database_refuses_to_reserve_more_than_is_on_hand(inventory: Inventory) -> None:
    await inventory.stock("A", east=2)
    c = orm.stock_levels.c

    with pytest.raises(IntegrityError, match="ck_stock_levels_reserved_within_on_hand"):
        async with inventory.service.database.transaction() as s:
            await s.execute(update(orm.stock_levels).where(c.sku == "A").values(reserved=3))

    assert await inventory.levels("A") == {"east": (2, 0)}
