"""The kit's integration tests: a fresh PostgreSQL database holding the test module's tables."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orderly_kit.db import Database


@pytest.fixture
async def database(fresh_database: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A fresh database with the tables of the test module's ``metadata`` created."""
    db = Database(fresh_database, pool_size=5)
    async with db.engine.begin() as conn:
        await conn.run_sync(request.module.metadata.create_all)
    yield db
    await db.dispose()
