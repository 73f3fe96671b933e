"""seed-demo: the demo catalogue, inserted only where missing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
from sqlalchemy import func, select

from orderly_inventory.adapters import orm
from orderly_inventory.bootstrap import MIGRATIONS, build
from orderly_inventory.seed import seed_demo
from orderly_inventory.settings import InventorySettings
from orderly_kit import migrations
from orderly_kit.service import Service

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory


@pytest.fixture
async def empty(fresh_database: str) -> AsyncIterator[Service]:
    """The service on a migrated database with no warehouses at all."""
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    built = build(InventorySettings(database_url=fresh_database, log_json=False))
    yield built
    await built.database.dispose()


async def test_seeding_creates_two_warehouses_and_the_demo_skus(
    empty: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await seed_demo(empty, []) == 0

    async with empty.database.sessions() as s:
        houses = (await s.execute(select(orm.warehouses).order_by("priority"))).mappings().all()
        c = orm.stock_levels.c
        per_sku = dict(
            (await s.execute(select(c.sku, func.sum(c.on_hand)).group_by(c.sku))).tuples().all()
        )
    assert [(h["code"], h["region"], h["priority"]) for h in houses] == [
        ("east", "east", 1),
        ("west", "west", 2),
    ]
    assert len(per_sku) == 21
    assert per_sku["DEMO-0001"] == per_sku["DEMO-0020"] == 10_000
    assert per_sku["DEMO-SOLDOUT"] == 0
    assert "added 2 of 2 warehouses" in capsys.readouterr().out


async def test_seeding_again_adds_what_is_missing_and_keeps_stock_in_use(
    inventory: Inventory, capsys: pytest.CaptureFixture[str]
) -> None:
    await inventory.stock("DEMO-0001", east=1)
    await inventory.reserve(uuid4(), ("DEMO-0001", 1))

    await seed_demo(inventory.service, [])
    await seed_demo(inventory.service, [])

    assert await inventory.levels("DEMO-0001") == {"east": (1, 1), "west": (5000, 0)}
    first, second = capsys.readouterr().out.strip().splitlines()
    assert "added 0 of 2 warehouses" in first
    assert "41 of 42 stock levels" in first
    assert "0 of 42 stock levels" in second
