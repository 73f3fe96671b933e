"""Writes the order_stages read model: one upsert per event, safe in any order and repeated.

``OrderStages`` is what the use cases need of it; ``OrderStageRepository`` keeps the
read model in PostgreSQL, and the unit tests keep it in memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Column, TextClause, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_analytics.adapters.orm import order_stages
from orderly_analytics.domain.order_stages import Stage, current_status

STAMPS: dict[Stage, Column[Any]] = {stage: order_stages.c[f"{stage}_at"] for stage in Stage}
DETAILS = ("order_number", "customer_id", "currency", "total_amount")


def _upsert(stamp: str) -> TextClause:
    """The upsert of one stage, as SQL text: SQLAlchemy would compile its ``INSERT … ON
    CONFLICT`` construct on every execution (it has no cache key); a text compiles once.
    The descriptive columns still empty are filled; a stage already stamped changes
    nothing (no row returned)."""
    table = order_stages.name
    stamps = ", ".join(column.name for column in STAMPS.values())
    return text(
        f"INSERT INTO {table} (order_id, status, {stamp}, {', '.join(DETAILS)})"
        f" VALUES (:order_id, :status, :at, {', '.join(f':{name}' for name in DETAILS)})"
        f" ON CONFLICT (order_id) DO UPDATE SET {stamp} = excluded.{stamp},"
        + "".join(f" {name} = coalesce({table}.{name}, excluded.{name})," for name in DETAILS)
        + f" updated_at = now() WHERE {table}.{stamp} IS NULL"
        f" RETURNING status, {stamps}"
    )


UPSERTS: dict[Stage, TextClause] = {stage: _upsert(column.name) for stage, column in STAMPS.items()}


class OrderStages(Protocol):
    """The order_stages read model, as the use cases stamp it within one unit of work."""

    async def record_stage(
        self,
        *,
        order_id: UUID,
        stage: Stage,
        at: datetime,
        order_number: str | None = None,
        customer_id: str | None = None,
        currency: str | None = None,
        total_amount: int | None = None,
    ) -> bool:
        """Stamp ``stage`` at ``at`` unless it already is; fill the details still empty;
        the order's status becomes its most advanced stage. False if nothing changed."""
        ...


class OrderStageRepository:
    """``OrderStages`` in PostgreSQL."""

    __slots__ = ("session",)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_stage(
        self,
        *,
        order_id: UUID,
        stage: Stage,
        at: datetime,
        order_number: str | None = None,
        customer_id: str | None = None,
        currency: str | None = None,
        total_amount: int | None = None,
    ) -> bool:
        """Stamp ``stage`` on the order unless it already is; False if nothing changed.

        Only this stage's column and the descriptive columns that are still empty are
        filled, so events of one order may arrive in any order across topics. The row
        stays locked from the upsert to the status update, so a concurrent event of the
        same order waits and then sees this one's stamp.
        """
        row = (
            (
                await self.session.execute(
                    UPSERTS[stage],
                    {
                        "order_id": order_id,
                        "at": at,
                        "status": current_status([stage]).value,
                        "order_number": order_number,
                        "customer_id": customer_id,
                        "currency": currency,
                        "total_amount": total_amount,
                    },
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return False
        status = current_status(s for s, column in STAMPS.items() if row[column.name] is not None)
        if status != row["status"]:
            await self.session.execute(
                update(order_stages)
                .where(order_stages.c.order_id == order_id)
                .values(status=status.value)
            )
        return True
