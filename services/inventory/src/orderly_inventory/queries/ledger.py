"""Read models for the inventory HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, field_validator
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orderly_inventory.adapters.orm import (
    stock_movements,
)
from orderly_inventory.domain.ledger import MovementKind


class MovementRead(BaseModel):
    """One ledger movement: signed deltas, why, what caused it and who."""

    id: int
    occurred_at: datetime
    sku: str
    warehouse: str
    kind: str
    quantity: int
    on_hand_delta: int
    reserved_delta: int
    in_transit_delta: int
    reason: str
    reference: str | None
    actor: str

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, moment: datetime) -> datetime:
        return moment.astimezone(UTC)


#: The fields of a movement, in the order of the export's columns.
MOVEMENT_FIELDS = tuple(MovementRead.model_fields)


@dataclass(frozen=True)
class MovementFilter:
    sku: str | None = None
    warehouse: str | None = None
    kind: MovementKind | None = None
    reference: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def _movements(where: MovementFilter) -> Select[Any]:
    m = stock_movements.c
    query = select(stock_movements).order_by(m.id)
    if where.sku is not None:
        query = query.where(m.sku == where.sku)
    if where.warehouse is not None:
        query = query.where(m.warehouse == where.warehouse)
    if where.kind is not None:
        query = query.where(m.kind == where.kind.value)
    if where.reference is not None:
        query = query.where(m.reference == where.reference)
    if where.since is not None:
        query = query.where(m.occurred_at >= where.since)
    if where.until is not None:
        query = query.where(m.occurred_at < where.until)
    return query


async def movements_page(
    session: AsyncSession, where: MovementFilter, *, after: int | None, limit: int
) -> tuple[list[MovementRead], int | None]:
    """Up to ``limit`` movements in id order after ``after``; the last id if more follow."""
    query = _movements(where).limit(limit + 1)
    if after is not None:
        query = query.where(stock_movements.c.id > after)
    rows = [MovementRead.model_validate(dict(r)) for r in (await session.execute(query)).mappings()]
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1].id if more else None


async def stream_movements(
    engine: AsyncEngine, where: MovementFilter, *, batch: int = 1000
) -> AsyncIterator[MovementRead]:
    """Every movement ``where`` selects, in id order, read through one server-side cursor.

    One statement, so one snapshot: a movement committed meanwhile is either wholly
    in the export or not at all, and none is skipped between batches.
    """
    async with engine.connect() as conn, conn.begin():
        result = await conn.stream(_movements(where).execution_options(yield_per=batch))
        async for row in result.mappings():
            yield MovementRead.model_validate(dict(row))
