"""The orders the API's routes name: by number or id, and only the caller's own for a
customer (another customer's order is a 404, exactly as one that does not exist)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Path

from orderly_kit.auth import Caller
from orderly_kit.db import Database
from orderly_kit.http_errors import refusal
from orderly_support import queries

#: The answer to an order the caller may not see, as to one support does not know.
NOT_FOUND = refusal("no order by this number or id that the caller may see")

OrderRef = Annotated[
    str, Path(description="an order number (ORD-0000042) or an order id", max_length=64)
]


async def order_seen_by(database: Database, ref: str, caller: Caller) -> UUID:
    """The order ``ref`` names if ``caller`` may see it; else 404, whether or not it exists."""
    async with database.sessions() as session:
        found = await queries.orders.owner_of(session, ref)
    caller.must_see(found[1] if found else None, f"order {ref!r}")
    assert found is not None
    return found[0]
