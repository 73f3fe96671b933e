"""Returns as the HTTP API shows them (no locks, no aggregate)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_order.adapters.orm import returns
from orderly_order.adapters.returns import lines_of
from orderly_schemas.base import StockLine
from orderly_schemas.returns import Resolution, ReturnReason


class ReturnRead(BaseModel):
    return_id: UUID
    return_number: str
    order_id: UUID
    order_number: str
    customer_id: str
    status: str = Field(description="requested (waiting for support), approved or rejected")
    lines: list[StockLine]
    reason: ReturnReason
    reason_text: str | None
    resolution: Resolution
    requested_by: str = Field(description="who asked: the customer's or the agent's subject")
    requested_at: datetime
    decided_by: str | None = Field(description="'rule' when the rules approved it, else support")
    decided_at: datetime | None
    rejection_reason: str | None


async def get_return(session: AsyncSession, return_id: UUID) -> ReturnRead | None:
    """The return with its lines, or None."""
    row = (
        (await session.execute(select(returns).where(returns.c.return_id == return_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return ReturnRead(
        **{name: row[name] for name in ReturnRead.model_fields if name != "lines"},
        lines=await lines_of(session, return_id),
    )
