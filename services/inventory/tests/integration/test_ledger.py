"""The stock ledger: every change is a movement, levels agree with it, alerts fire on crossings."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
from sqlalchemy import select, update

from orderly_inventory.adapters import orm
from orderly_inventory.bootstrap import build
from orderly_inventory.entrypoints.cli import reconcile
from orderly_inventory.settings import InventorySettings
from orderly_kit.service import Service

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory


async def movements(inventory: Inventory, sku: str) -> list[tuple[str, str, int, int, int, str]]:
    c = orm.stock_movements.c
    query = (
        select(c.kind, c.warehouse, c.on_hand_delta, c.reserved_delta, c.quantity, c.actor)
        .where(c.sku == sku)
        .order_by(c.id)
    )
    async with inventory.service.database.sessions() as s:
        return [tuple(r) for r in await s.execute(query)]


async def set_safety_stock(inventory: Inventory, sku: str, warehouse: str, units: int) -> None:
    c = orm.stock_levels.c
    async with inventory.service.database.transaction() as s:
        await s.execute(
            update(orm.stock_levels)
            .where(c.sku == sku, c.warehouse == warehouse)
            .values(safety_stock=units)
        )


async def test_reserve_ship_and_release_each_leave_a_movement_with_reason_and_actor(
    inventory: Inventory,
) -> None:
    await inventory.stock("MUG", east=3, west=5)
    shipped, released = uuid4(), uuid4()

    await inventory.reserve(shipped, ("MUG", 6))  # 3 from east, 3 from west
    await inventory.ship(shipped)
    await inventory.reserve(released, ("MUG", 2))
    await inventory.release(released)

    assert await movements(inventory, "MUG") == [
        ("opening", "east", 3, 0, 3, "test"),
        ("opening", "west", 5, 0, 5, "test"),
        ("reservation", "east", 0, 3, 3, "order-saga"),
        ("reservation", "west", 0, 3, 3, "order-saga"),
        ("shipment", "east", -3, -3, 3, "inventory-service"),
        ("shipment", "west", -3, -3, 3, "inventory-service"),
        ("reservation", "west", 0, 2, 2, "order-saga"),
        ("release", "west", 0, -2, 2, "order-saga"),
    ]
    c = orm.stock_movements.c
    async with inventory.service.database.sessions() as s:
        references = set(
            (await s.execute(select(c.reference).where(c.kind != "opening"))).scalars()
        )
    assert references == {str(shipped), str(released)}
    assert await inventory.levels("MUG") == {"east": (0, 0), "west": (2, 0)}


async def test_expired_reservations_are_movements_too(inventory: Inventory) -> None:
    await inventory.stock("TEE", east=2)
    order = uuid4()
    await inventory.reserve(order, ("TEE", 2))

    assert await inventory.expire() == 1

    assert (await movements(inventory, "TEE"))[-1] == (
        "expiry",
        "east",
        0,
        -2,
        2,
        "inventory-service",
    )


async def test_low_stock_is_said_once_when_available_crosses_the_safety_stock_and_once_back(
    inventory: Inventory,
) -> None:
    await inventory.stock("CAP", east=10)
    await set_safety_stock(inventory, "CAP", "east", 5)
    first, second, third = uuid4(), uuid4(), uuid4()

    await inventory.reserve(first, ("CAP", 4))  # available 6: above the line
    await inventory.reserve(second, ("CAP", 3))  # available 3: crossed below
    await inventory.reserve(third, ("CAP", 1))  # available 2: still below, no new alert
    await inventory.release(third)  # 3: still below
    await inventory.release(second)  # 6: recovered
    await inventory.release(first)  # 10: no new alert

    alerts = [
        (k, b) for k, b in await inventory.published() if k in ("LowStockDetected", "BackInStock")
    ]
    assert [(k, b["available"], b["safety_stock"], b["warehouse"]) for k, b in alerts] == [
        ("LowStockDetected", 3, 5, "east"),
        ("BackInStock", 6, 5, "east"),
    ]


async def test_reconcile_reports_a_level_that_drifted_from_its_ledger(
    inventory: Inventory, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await inventory.stock("BAG", east=7)
    reconciler: Service = build(InventorySettings(database_url=fresh_database, log_json=False))
    assert await reconcile(reconciler, []) == 0
    assert "every stock level agrees with the ledger" in capsys.readouterr().out
    c = orm.stock_levels.c
    async with inventory.service.database.transaction() as s:
        await s.execute(update(orm.stock_levels).where(c.sku == "BAG").values(on_hand=9))

    reconciler = build(InventorySettings(database_url=fresh_database, log_json=False))
    assert await reconcile(reconciler, []) == 1

    out = capsys.readouterr().out
    assert "DIFFERS BAG at east: on_hand is 9 but its movements add up to 7" in out
    # Put it right, so that the fixture's own check after the test passes.
    async with inventory.service.database.transaction() as s:
        await s.execute(update(orm.stock_levels).where(c.sku == "BAG").values(on_hand=7))
