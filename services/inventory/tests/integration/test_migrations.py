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
        command.upgrade(config, "head")

    await asyncio.to_thread(down_and_up)
