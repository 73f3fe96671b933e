"""``seed-demo``: the demo catalogue (two warehouses, twenty SKUs, one sold out)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert

from orderly_inventory.adapters.orm import products, stock_levels, warehouses
from orderly_inventory.adapters.stock import StockRepository
from orderly_inventory.domain.ledger import Movement, MovementKind
from orderly_kit.service import Service

WAREHOUSES = (
    {"code": "east", "name": "East fulfilment centre", "region": "east", "priority": 1},
    {"code": "west", "name": "West fulfilment centre", "region": "west", "priority": 2},
)
DEMO_SKUS = tuple(f"DEMO-{i:04d}" for i in range(1, 21))
SOLDOUT_SKU = "DEMO-SOLDOUT"
UNITS_PER_WAREHOUSE = 5000
ALL_SKUS = (*DEMO_SKUS, SOLDOUT_SKU)


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


def _demo_name(sku: str) -> str:
    return "Sold-out demo item" if sku == SOLDOUT_SKU else f"Demo item {sku.removeprefix('DEMO-')}"


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
                    .values([{**level, "on_hand": 0} for level in levels])
                    .on_conflict_do_nothing()
                    .returning(stock_levels.c.sku, stock_levels.c.warehouse)
                )
            ).all()
            await s.execute(
                insert(products)
                .values(
                    [{"sku": sku, "name": _demo_name(sku)} for sku in (*DEMO_SKUS, SOLDOUT_SKU)]
                )
                .on_conflict_do_nothing()
            )
            # Opening stock goes through the ledger like every other change of stock.
            stock = StockRepository(s)
            opening = {(str(level["sku"]), str(level["warehouse"])): level for level in levels}
            for sku, warehouse in sorted(new_levels):
                units = int(str(opening[sku, warehouse]["on_hand"]))
                if units:
                    await stock.apply_movement(
                        Movement(
                            sku=sku,
                            warehouse=warehouse,
                            kind=MovementKind.OPENING,
                            quantity=units,
                            on_hand=units,
                            reason="demo catalogue opening stock",
                            actor="seed-demo",
                        ),
                        at=datetime.now(UTC),
                    )
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
