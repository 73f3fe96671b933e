"""``seed-demo``: the demo catalogue (two warehouses, twenty SKUs, one sold out)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from orderly_inventory.adapters.orm import stock_levels, warehouses
from orderly_kit.service import Service

WAREHOUSES = (
    {"code": "east", "name": "East fulfilment centre", "region": "east", "priority": 1},
    {"code": "west", "name": "West fulfilment centre", "region": "west", "priority": 2},
)
DEMO_SKUS = tuple(f"DEMO-{i:04d}" for i in range(1, 21))
SOLDOUT_SKU = "DEMO-SOLDOUT"
UNITS_PER_WAREHOUSE = 5000


def demo_stock() -> list[dict[str, object]]:
    """Every demo SKU in every warehouse: 5000 units each, none of the sold-out SKU."""
    return [
        {
            "sku": sku,
            "warehouse": w["code"],
            "on_hand": 0 if sku == SOLDOUT_SKU else UNITS_PER_WAREHOUSE,
        }
        for sku in (*DEMO_SKUS, SOLDOUT_SKU)
        for w in WAREHOUSES
    ]


async def seed_demo(service: Service, args: list[str]) -> int:
    """Insert the demo warehouses and stock that are missing; never resets stock in use."""
    del args
    levels = demo_stock()
    try:
        async with service.database.transaction() as s:
            new_warehouses = (
                (
                    await s.execute(
                        insert(warehouses)
                        .values(list(WAREHOUSES))
                        .on_conflict_do_nothing()
                        .returning(warehouses.c.code)
                    )
                )
                .scalars()
                .all()
            )
            new_levels = (
                await s.execute(
                    insert(stock_levels)
                    .values(levels)
                    .on_conflict_do_nothing()
                    .returning(stock_levels.c.sku)
                )
            ).all()
    finally:
        await service.database.dispose()
    print(
        f"seed-demo: added {len(new_warehouses)} of {len(WAREHOUSES)} warehouses"
        f" ({', '.join(sorted(new_warehouses)) or 'all present'})"
        f" and {len(new_levels)} of {len(levels)} stock levels"
        f" ({len(DEMO_SKUS)} SKUs x {UNITS_PER_WAREHOUSE} units per warehouse, {SOLDOUT_SKU} at 0);"
        " existing rows left as they were"
    )
    return 0
