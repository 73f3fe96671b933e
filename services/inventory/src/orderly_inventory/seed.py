"""``seed-demo``: the demo catalogue (two warehouses, twenty SKUs, one sold out)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from orderly_inventory.adapters.orm import stock_levels, warehouses
from orderly_kit.service import Service

WAREHOUSES = (
    ("east", "East fulfilment centre", "east", 1),
    ("west", "West fulfilment centre", "west", 2),
)
DEMO_SKUS = tuple(f"DEMO-{i:04d}" for i in range(1, 21))
SOLDOUT = "DEMO-SOLDOUT"
UNITS = 5000


async def seed_demo(service: Service, args: list[str]) -> int:
    """Insert what is missing; never resets stock already in use."""
    del args
    async with service.database.transaction() as s:
        await s.execute(
            insert(warehouses)
            .values(
                [{"code": c, "name": n, "region": r, "priority": p} for c, n, r, p in WAREHOUSES]
            )
            .on_conflict_do_nothing()
        )
        levels = [
            {"sku": sku, "warehouse": code, "on_hand": UNITS if sku != SOLDOUT else 0}
            for sku in (*DEMO_SKUS, SOLDOUT)
            for code, *_ in WAREHOUSES
        ]
        result = await s.execute(
            insert(stock_levels)
            .values(levels)
            .on_conflict_do_nothing()
            .returning(stock_levels.c.sku)
        )
        added = len(result.all())
    print(f"seed-demo: {len(WAREHOUSES)} warehouses, {added} new stock levels of {len(levels)}")
    await service.database.dispose()
    return 0
