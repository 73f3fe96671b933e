"""The migrations build exactly the tables the code declares, and can be undone."""

from __future__ import annotations

import asyncio

from orderly_dev import schema
from orderly_kit import migrations
from orderly_support.adapters import orm
from orderly_support.bootstrap import MIGRATIONS


async def test_head_matches_the_tables_in_code_including_checks(fresh_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)

    diff, checks = await asyncio.to_thread(schema.differences, fresh_database, orm.metadata)

    assert diff == []
    assert schema.declared_checks(orm.metadata) == checks


async def test_the_migrations_downgrade_and_upgrade_again(fresh_database: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)

    await asyncio.to_thread(schema.round_trip, MIGRATIONS, fresh_database)

    diff, _ = await asyncio.to_thread(schema.differences, fresh_database, orm.metadata)
    assert diff == []
