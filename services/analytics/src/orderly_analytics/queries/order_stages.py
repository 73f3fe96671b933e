"""Queries over the read models for the HTTP API, computed in PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Float, cast, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_analytics.adapters.orm import order_stages
from orderly_analytics.domain.order_stages import Stage, completion_rate


class OrderStagesRead(BaseModel):
    """When one order reached each stage; empty stamps are stages not (yet) seen."""

    order_id: UUID
    order_number: str | None
    customer_id: str | None
    currency: str | None
    total_amount: int | None = Field(description="in minor units of the currency")
    status: Stage
    placed_at: datetime | None
    confirmed_at: datetime | None
    rejected_at: datetime | None
    cancelled_at: datetime | None
    paid_at: datetime | None
    dispatched_at: datetime | None
    delivered_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime


class DurationRead(BaseModel):
    """Percentiles of a lead time in seconds over the orders that have both stamps."""

    p50: float | None
    p95: float | None
    count: int


class KpisRead(BaseModel):
    orders_by_status: dict[Stage, int]
    orders_total: int
    completion_rate: float | None = Field(
        description="completed orders / orders that completed, were rejected or cancelled"
    )
    placed_to_shipped_seconds: DurationRead
    placed_to_completed_seconds: DurationRead


async def get_order_stages(session: AsyncSession, order_id: UUID) -> OrderStagesRead | None:
    query = select(order_stages).where(order_stages.c.order_id == order_id)
    row = (await session.execute(query)).mappings().first()
    return None if row is None else OrderStagesRead.model_validate(dict(row))


def _seconds_between(
    earlier: ColumnElement[datetime], later: ColumnElement[datetime]
) -> ColumnElement[float]:
    # NULL unless both stamps exist; percentile_cont and count skip NULLs.
    return cast(extract("epoch", later - earlier), Float)


def _duration_columns(name: str, seconds: ColumnElement[float]) -> list[ColumnElement[Any]]:
    return [
        func.percentile_cont(0.5).within_group(seconds).label(f"{name}_p50"),
        func.percentile_cont(0.95).within_group(seconds).label(f"{name}_p95"),
        func.count(seconds).label(f"{name}_count"),
    ]


def _duration(row: Any, name: str) -> DurationRead:
    return DurationRead(p50=row[f"{name}_p50"], p95=row[f"{name}_p95"], count=row[f"{name}_count"])


async def order_kpis(
    session: AsyncSession, *, since: datetime | None = None, until: datetime | None = None
) -> KpisRead:
    """KPIs of the orders placed in [since, until); with no bound, of every order seen.

    An order whose OrderPlaced has not arrived yet has no placed_at, so any bound
    leaves it out. One statement, so every figure comes from one snapshot.
    """
    c = order_stages.c
    conditions = []
    if since is not None:
        conditions.append(c.placed_at >= since)
    if until is not None:
        conditions.append(c.placed_at < until)
    query = select(
        *(func.count().filter(c.status == stage.value).label(stage.value) for stage in Stage),
        *_duration_columns("shipped", _seconds_between(c.placed_at, c.dispatched_at)),
        *_duration_columns("completed", _seconds_between(c.placed_at, c.completed_at)),
    ).where(*conditions)
    row = (await session.execute(query)).mappings().one()
    by_status = {stage: int(row[stage.value]) for stage in Stage}
    return KpisRead(
        orders_by_status=by_status,
        orders_total=sum(by_status.values()),
        completion_rate=completion_rate(by_status),
        placed_to_shipped_seconds=_duration(row, "shipped"),
        placed_to_completed_seconds=_duration(row, "completed"),
    )
