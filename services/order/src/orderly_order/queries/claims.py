"""Claims as the HTTP API shows them (no locks, no aggregate)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_order.adapters.orm import claims, orders
from orderly_schemas.order import ClaimKind, ClaimResolution


class ClaimShown(BaseModel):
    """A claim as its order shows it."""

    claim_id: UUID
    claim_number: str
    kind: ClaimKind
    resolution: ClaimResolution
    status: str
    opened_at: datetime


class ClaimRead(ClaimShown):
    order_id: UUID
    order_number: str
    customer_id: str
    status: str = Field(
        description="reshipping (the replacement asked of the warehouse), reshipped,"
        " delivered; refunding, refunded (also when a reshipment could not be sent);"
        " needs_attention (the replacement was lost too, or the refund failed: a new claim"
        " or a retry settles it); superseded (a newer claim settles the order)"
    )
    opened_by: str = Field(description="the agent's subject")
    replacement_id: UUID | None = Field(description="the reshipment's replacement shipment")
    updated_at: datetime


async def get_claim(session: AsyncSession, claim_id: UUID) -> ClaimRead | None:
    """The claim, with its order's number and customer, or None."""
    row = (
        (
            await session.execute(
                select(claims, orders.c.order_number, orders.c.customer_id)
                .join(orders, orders.c.order_id == claims.c.order_id)
                .where(claims.c.claim_id == claim_id)
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else ClaimRead.model_validate(dict(row))


async def claims_of(session: AsyncSession, order_id: UUID) -> list[ClaimShown]:
    """The order's claims, oldest first."""
    found = await session.execute(
        select(*(claims.c[name] for name in ClaimShown.model_fields))
        .where(claims.c.order_id == order_id)
        .order_by(claims.c.opened_at, claims.c.claim_number)
    )
    return [ClaimShown.model_validate(row) for row in found.mappings()]
