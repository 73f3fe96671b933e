"""Hot statements SQLAlchemy would compile on every execution, compiled once as SQL text:
the same rows and answers as the statements they stand for, and served from the
engine's compiled cache. On a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Column, DateTime, Integer, String, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.engine.interfaces import CacheStats

from orderly_kit.db import Database, compiled_once, insert_unless_exists, new_metadata

metadata = new_metadata()
parcels = Table(
    "parcels",
    metadata,
    Column("parcel_id", UUID(as_uuid=True), primary_key=True),
    Column("carrier", String(20), nullable=False),
    Column("detail", JSONB, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("booked_at", DateTime(timezone=True), nullable=False),
)


@pytest.fixture
async def database(fresh_database: str) -> AsyncIterator[Database]:
    db = Database(fresh_database, pool_size=2)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield db
    await db.dispose()


def cache_hit(result: Result[Any]) -> CacheStats:
    """How the engine's compiled cache served a statement: a session's execute() is typed
    as any Result, but a DML statement's is a CursorResult, which has the context."""
    return cast(CursorResult[Any], result).context.cache_hit


def a_parcel(carrier: str = "dhl") -> dict[str, object]:
    return {
        "parcel_id": uuid.uuid4(),
        "carrier": carrier,
        "detail": {"weight_g": 1200, "zone": "A"},
        "booked_at": datetime(2026, 12, 7, 9, 30, tzinfo=UTC),
    }


async def a_parcel_booked(database: Database) -> dict[str, object]:
    parcel = a_parcel()
    async with database.transaction() as session:
        await session.execute(insert_unless_exists(parcels, tuple(parcel)), parcel)
    return parcel


async def test_insert_unless_exists_inserts_once_returns_typed_rows_and_is_cached(
    database: Database,
) -> None:
    parcel = a_parcel()
    statement = insert_unless_exists(parcels, tuple(parcel), returning=("parcel_id",))
    # the same shape is the same statement: compiled once per process
    assert insert_unless_exists(parcels, tuple(parcel), returning=("parcel_id",)) is statement

    async with database.transaction() as session:
        first = await session.execute(statement, parcel)
        assert first.scalar_one() == parcel["parcel_id"]  # a UUID again, not a string
        again = await session.execute(statement, parcel | {"carrier": "ups"})
        assert again.first() is None  # the key exists: nothing inserted, nothing returned
        assert cache_hit(again) is CacheStats.CACHE_HIT

        rows = (await session.execute(select(parcels))).mappings().all()
    assert [dict(r) for r in rows] == [parcel | {"attempts": 0}]  # the first one stands

    # The construct it stands for has no cache key: SQLAlchemy compiles it every time.
    async with database.transaction() as session:
        uncached = pg_insert(parcels).values(a_parcel()).on_conflict_do_nothing()
        await session.execute(uncached)
        second = await session.execute(
            pg_insert(parcels).values(a_parcel()).on_conflict_do_nothing()
        )
        assert cache_hit(second) is CacheStats.NO_CACHE_KEY


async def test_a_list_of_rows_inserts_each_row_and_skips_the_ones_that_exist(
    database: Database,
) -> None:
    existing = await a_parcel_booked(database)
    batch = [a_parcel("ups"), existing | {"carrier": "fedex"}, a_parcel("gls")]
    async with database.transaction() as session:
        await session.execute(insert_unless_exists(parcels, tuple(batch[0])), batch)
        carriers = (await session.execute(select(parcels.c.carrier))).scalars().all()
    assert sorted(carriers) == ["dhl", "gls", "ups"]


async def test_compiled_once_keeps_the_values_written_in_the_statement(
    database: Database,
) -> None:
    parcel = await a_parcel_booked(database)
    # "dhl" and 3 are written in the statement, the parcel id is a parameter
    bump = compiled_once(
        update(parcels)
        .where(parcels.c.parcel_id == bindparam("id"), parcels.c.carrier == "dhl")
        .values(attempts=parcels.c.attempts + 3)
        .returning(parcels.c.attempts)
    )
    async with database.transaction() as session:
        attempts = (await session.execute(bump, {"id": parcel["parcel_id"]})).scalar_one()
    assert attempts == 3
