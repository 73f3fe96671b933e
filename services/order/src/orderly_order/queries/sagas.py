"""Read models for the HTTP API (no locks, no aggregate)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_order.adapters.orm import orders
from orderly_order.domain.order import AWAITING, Status


@dataclass(frozen=True)
class SagaState:
    status: str
    count: int
    oldest_since: datetime


async def saga_states(session: AsyncSession, statuses: Iterable[Status]) -> list[SagaState]:
    """How many orders are in each of ``statuses``, and since when the oldest has been."""
    rows = await session.execute(
        select(orders.c.status, func.count(), func.min(orders.c.status_since))
        .where(orders.c.status.in_([s.value for s in statuses]))
        .group_by(orders.c.status)
    )
    return [SagaState(status, count, oldest) for status, count, oldest in rows.all()]


@dataclass(frozen=True)
class StuckSaga:
    order_id: UUID
    order_number: str
    status: str
    awaiting: str | None
    status_since: datetime
    deadline_at: datetime | None
    resends: int
    pending_compensations: list[str]
    cancel_reason: str | None


async def stuck_sagas(
    session: AsyncSession, *, since_before: datetime, statuses: Iterable[Status], limit: int = 100
) -> list[StuckSaga]:
    """Orders that have been in one of ``statuses`` since before ``since_before``, oldest first."""
    rows = await session.execute(
        select(
            orders.c.order_id,
            orders.c.order_number,
            orders.c.status,
            orders.c.status_since,
            orders.c.deadline_at,
            orders.c.resends,
            orders.c.pending_compensations,
            orders.c.cancel_reason,
        )
        .where(orders.c.status.in_([s.value for s in statuses]))
        .where(orders.c.status_since < since_before)
        .order_by(orders.c.status_since)
        .limit(limit)
    )
    return [
        StuckSaga(
            order_id=r.order_id,
            order_number=r.order_number,
            status=r.status,
            awaiting=AWAITING.get(Status(r.status)),
            status_since=r.status_since,
            deadline_at=r.deadline_at,
            resends=r.resends,
            pending_compensations=list(r.pending_compensations),
            cancel_reason=r.cancel_reason,
        )
        for r in rows.all()
    ]
