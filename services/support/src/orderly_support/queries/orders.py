"""The orders support knows, as the HTTP API looks them up: by number or by id."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_support.adapters.orm import orders


async def owner_of(session: AsyncSession, ref: str) -> tuple[UUID, str] | None:
    """The order ``ref`` names (an order number, ORD-0000042, or an order id) and its
    customer's id; None if support does not know it."""
    try:
        named = orders.c.order_id == UUID(ref)
    except ValueError:
        named = orders.c.order_number == ref.strip().upper()
    row = (
        await session.execute(select(orders.c.order_id, orders.c.customer_id).where(named))
    ).first()
    return None if row is None else (row.order_id, row.customer_id)
