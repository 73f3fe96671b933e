"""The migrations build exactly the tables the code declares, and can be undone."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, create_engine, text

from orderly_inventory.adapters import orm
from orderly_inventory.bootstrap import MIGRATIONS
from orderly_kit import migrations


def _differences(url: str) -> tuple[list[object], set[str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), orm.metadata)
            checks = set(
                conn.execute(
                    text("SELECT conname FROM pg_constraint WHERE contype = 'c' AND conrelid <> 0")
                ).scalars()
            )
    finally:
        engine.dispose()
    return diff, checks


async def test_head_matches_the_tables_in_code_including_checks(fresh_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)

    diff, checks = await asyncio.to_thread(_differences, fresh_database)

    assert diff == []
    declared = {
        c.name
        for table in orm.metadata.tables.values()
        for c in table.constraints
        if isinstance(c, CheckConstraint)
    }
    assert declared == checks


async def test_the_migrations_downgrade_and_upgrade_again(fresh_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)

    def down_and_up() -> None:
        from alembic import command

        config = migrations.alembic_config(MIGRATIONS, fresh_database)
        command.downgrade(config, "base")
        command.upgrade(config, "heads")

    await asyncio.to_thread(down_and_up)


def _sql(url: str, *statements: str) -> list[list[tuple[object, ...]]]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return [
                list(map(tuple, result)) if (result := conn.execute(text(s))).returns_rows else []
                for s in statements
            ]
    finally:
        engine.dispose()


ONE = "00000000-0000-0000-0000-000000000001"
TWO = "00000000-0000-0000-0000-000000000002"


async def test_shipments_made_before_parcels_get_a_warehouse_and_in_flight_ones_a_delivery(
    fresh_database: str,
) -> None:
    def before_and_after() -> list[list[tuple[object, ...]]]:
        from alembic import command

        config = migrations.alembic_config(MIGRATIONS, fresh_database)
        command.upgrade(config, "c4f1d2e3a5b6")
        _sql(
            fresh_database,
            "INSERT INTO warehouses (code, name) VALUES ('east', 'East'), ('west', 'West')",
            "INSERT INTO stock_levels (sku, warehouse) VALUES ('A', 'east'), ('A', 'west')",
            # ONE shipped from east alone, still on its way; TWO from both, delivered.
            f"INSERT INTO reservations (order_id, sku, warehouse, quantity, status) VALUES"
            f" ('{ONE}', 'A', 'east', 1, 'shipped'), ('{TWO}', 'A', 'east', 1, 'shipped'),"
            f" ('{TWO}', 'A', 'west', 1, 'shipped')",
            "INSERT INTO shipments (shipment_id, order_id, carrier, tracking_number, status,"
            " shipped_at, deliver_after, delivered_at) VALUES"
            f" (gen_random_uuid(), '{ONE}', 'SimPost', 'SP1', 'shipped',"
            "  '2026-12-01 10:00+00', '2026-12-01 10:05+00', NULL),"
            f" (gen_random_uuid(), '{TWO}', 'SimPost', 'SP2', 'delivered',"
            "  '2026-12-01 09:00+00', '2026-12-01 09:05+00', '2026-12-01 09:05+00')",
        )
        command.upgrade(config, "heads")
        return _sql(
            fresh_database,
            "SELECT tracking_number, warehouse, status, expected_delivery_at::text"
            " FROM shipments ORDER BY tracking_number",
            "SELECT tracking_number, status, due_at::text, sent_at FROM sim_carrier_updates",
        )

    shipments, scheduled = await asyncio.to_thread(before_and_after)

    assert shipments == [
        ("SP1", "east", "shipped", "2026-12-01 10:05:00+00"),
        ("SP2", "(unsplit)", "delivered", "2026-12-01 09:05:00+00"),
    ]
    assert scheduled == [("SP1", "delivered", "2026-12-01 10:05:00+00", None)]
