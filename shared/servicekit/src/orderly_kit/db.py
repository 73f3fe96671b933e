"""The async SQLAlchemy engine and sessions (psycopg 3)."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import psycopg
from sqlalchemy import MetaData, Table, TextClause, bindparam, event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, TextualSelect

# One naming convention so that Alembic autogenerate names constraints stably.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A MetaData for one service's tables, with the shared naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


#: Compiles statements to SQL text with ``:name`` parameters and no casts (``text`` reads
#: those; the engine's own dialect adds its casts when it runs the text).
_TEXT_DIALECT = postgresql.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
_TEXT_DIALECT.bind_typing = BindTyping.NONE

#: A statement as SQL text, with result column types where it returns rows.
CompiledText = TextClause | TextualSelect


def compiled_once(statement: ClauseElement) -> CompiledText:
    """``statement`` as SQL text with its typed parameters, for a hot path.

    SQLAlchemy 2.0 gives PostgreSQL's ``INSERT … ON CONFLICT`` no cache key, so it
    compiles such a statement anew on every execution: at saturation that was a fifth of
    a busy service's CPU (README, Benchmarks). SQL text is cached like any statement.
    Build the statement once, at import, with a ``bindparam`` for each value, and execute
    the result with a dict of them (a list of dicts runs it once per row, pipelined).
    """
    compiled = cast(SQLCompiler, statement.compile(dialect=_TEXT_DIALECT))
    params = [
        bindparam(name, type_=bind.type)
        if bind.required
        else bindparam(name, bind.value, type_=bind.type)  # a value written in the statement
        for bind, name in compiled.bind_names.items()  # as the SQL names them
    ]
    sql = text(compiled.string).bindparams(*params)
    returning = getattr(statement, "_returning", ())
    # RETURNING columns keep their types (result processing), as the statement had them.
    return sql.columns(*returning) if returning else sql


@functools.cache
def insert_unless_exists(
    table: Table,
    columns: tuple[str, ...],
    *,
    conflict: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
) -> CompiledText:
    """``INSERT INTO table (columns) … ON CONFLICT [(conflict)] DO NOTHING [RETURNING …]``
    as SQL text compiled once per shape: execute it with a dict of ``columns`` (or a list
    of them): ``session.execute(insert_unless_exists(t, tuple(values)), values)``."""
    statement = (
        pg_insert(table)
        .values({column: bindparam(column) for column in columns})
        .on_conflict_do_nothing(index_elements=list(conflict) or None)
    )
    if returning:
        return compiled_once(statement.returning(*(table.c[name] for name in returning)))
    return compiled_once(statement)


async def driver_connection(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under ``session``, inside the session's transaction: for
    hot statements that need nothing of SQLAlchemy (a statement through the session
    costs several times its driver's CPU)."""
    return await _driver_of(await session.connection())


async def _driver_of(connection: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    raw = await connection.get_raw_connection()
    driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    return driver


class Database:
    """One service's connection pool and session factory; connects lazily."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        echo: bool = False,
        ping_when_idle_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            echo=echo,
            # A failed statement's message (logged, or a dead letter's reason) never quotes
            # its parameters: they hold customers' names, addresses and payment tokens.
            hide_parameters=True,
        )
        _ping_when_idle(self.engine, ping_when_idle_seconds)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def driver_transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection's psycopg connection inside one transaction, for hot paths
        that need no ORM: committed on success, rolled back on error."""
        async with self.engine.connect() as connection:
            driver = await _driver_of(connection)
            async with driver.transaction():
                yield driver

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction, committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it has been idle ``idle_seconds``.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip and a server
    transaction of its own before each of ours (half the commits PostgreSQL counted per
    saga). A connection in steady use needs none: had the server dropped it, its next
    statement fails as a ping would, the unit of work is retried (messages) or answered
    with an error (HTTP), and SQLAlchemy then discards every connection the pool held.
    An idle one (after a quiet spell, a database restart or a proxy's idle timeout) is
    pinged, and replaced if the ping fails, before any work is given to it.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # just connected, or in use moments ago
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another.
            raise DisconnectionError(f"an idle pooled connection did not answer: {exc}") from exc


_IDLE_SINCE = "orderly_idle_since"
