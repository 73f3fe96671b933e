"""A database error that quotes a customer's data is described without it.

PostgreSQL's own messages quote the row: a unique violation's DETAIL names the key's
value, and SQLAlchemy adds the statement's parameters. The reason a dead letter carries
and the consumer logs is built by ``describe_error``; the kit's engine hides parameters
from every other message.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, String, Table, insert
from sqlalchemy.exc import DBAPIError

from orderly_kit.db import Database, new_metadata
from orderly_kit.messaging import describe_error

NAME = "Marked Customerson"
EMAIL = "marked.customerson@example.com"

metadata = new_metadata()
customers = Table(
    "err_customers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(10), nullable=False),
)


async def failure(database: Database, row: dict[str, object]) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught:
        async with database.transaction() as session:
            await session.execute(insert(customers).values(**row))
    return caught.value


async def test_a_unique_violation_names_the_constraint_not_the_value(fresh_database: str) -> None:
    database = Database(fresh_database)
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with database.transaction() as session:
            await session.execute(insert(customers).values(id=1, email=EMAIL, name="Ada"))

        duplicate = await failure(database, {"id": 2, "email": EMAIL, "name": "Bob"})
        too_long = await failure(database, {"id": 3, "email": "x@example.com", "name": NAME})
    finally:
        await database.dispose()

    assert EMAIL in str(duplicate.orig)  # what PostgreSQL says, DETAIL and all
    assert describe_error(duplicate) == (
        "IntegrityError (UniqueViolation): duplicate key value violates unique constraint"
        ' "uq_err_customers_email"'
    )
    assert describe_error(too_long) == (
        "DataError (StringDataRightTruncation): value too long for type character varying(10)"
    )
    # Whatever else logs the exception: the statement's parameters are hidden.
    assert NAME not in str(too_long)
    assert "SQL parameters hidden" in str(too_long)
