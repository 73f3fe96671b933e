"""The pool pings a connection only after it sat idle: one the server dropped meanwhile is
replaced before any work reaches it, and one in steady use costs no ping.

On a real PostgreSQL: the server really drops the connection (pg_terminate_backend).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url, text

from orderly_dev.servers import Servers
from orderly_kit.db import Database


def counting_pings(database: Database) -> list[float]:
    """The dialect's real ping, counted: one entry per ping."""
    dialect = database.engine.sync_engine.dialect
    ping: Callable[[Any], bool] = dialect.do_ping
    pings: list[float] = []

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1.0)
        return ping(dbapi_connection)

    dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


@pytest.fixture
async def database(fresh_database: str) -> AsyncIterator[Database]:
    db = Database(fresh_database, pool_size=1, ping_when_idle_seconds=0.2)
    yield db
    await db.dispose()


async def backend_pid(database: Database) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


def terminate(servers: Servers, database_url: str, pid: int) -> None:
    """Drop one server connection, as a restart or a proxy's idle timeout would."""
    name = make_url(database_url).database
    assert name is not None
    with psycopg.connect(servers.postgres.libpq(name), autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    database: Database, servers: Servers, fresh_database: str
) -> None:
    pings = counting_pings(database)
    first = await backend_pid(database)
    terminate(servers, fresh_database, first)
    await asyncio.sleep(0.3)  # idle past ping_when_idle_seconds

    second = await backend_pid(database)  # no error: the pool replaced the connection

    assert second != first
    assert len(pings) == 1


async def test_a_connection_in_steady_use_is_not_pinged(fresh_database: str) -> None:
    database = Database(fresh_database, pool_size=1, ping_when_idle_seconds=60)
    pings = counting_pings(database)
    try:
        pids = {await backend_pid(database) for _ in range(20)}
    finally:
        await database.dispose()

    assert len(pids) == 1  # the one pooled connection, every time
    assert pings == []
