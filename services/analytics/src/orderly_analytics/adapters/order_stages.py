"""Writes the order_stages read model: one upsert per event, safe in any order and repeated."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_analytics.adapters.orm import order_stages
from orderly_analytics.domain.order_stages import Stage, current_status

STAMPS: dict[Stage, Column[Any]] = {stage: order_stages.c[f"{stage}_at"] for stage in Stage}


async def record_stage(
    session: AsyncSession,
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
    stamp = STAMPS[stage]
    details = {
        "order_number": order_number,
        "customer_id": customer_id,
        "currency": currency,
        "total_amount": total_amount,
    }
    new_row = insert(order_stages).values(
        order_id=order_id, status=current_status([stage]).value, **{stamp.name: at}, **details
    )
    upsert = new_row.on_conflict_do_update(
        index_elements=[order_stages.c.order_id],
        set_={
            stamp.name: new_row.excluded[stamp.name],
            **{
                name: func.coalesce(order_stages.c[name], new_row.excluded[name])
                for name in details
            },
            "updated_at": func.now(),
        },
        # An order reaches a stage once: a repeat leaves the row, updated_at included, as is.
        where=stamp.is_(None),
    ).returning(order_stages.c.status, *STAMPS.values())
    row = (await session.execute(upsert)).mappings().first()
    if row is None:
        return False
    status = current_status(s for s, column in STAMPS.items() if row[column.name] is not None)
    if status != row["status"]:
        await session.execute(
            update(order_stages)
            .where(order_stages.c.order_id == order_id)
            .values(status=status.value)
        )
    return True
