"""Read models for the HTTP API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_payment.adapters.orm import payments, refunds


class RefundRead(BaseModel):
    refund_id: str
    amount: int = Field(description="in minor units of the currency")
    currency: str
    status: str = Field(description="pending (a retry is scheduled), succeeded or failed")
    provider_reference: str | None = Field(
        description="of the succeeded attempt, or of the last one the provider answered"
    )
    reason: str
    failure_reason: str | None = Field(description="the last failed attempt's reason")
    attempts: int = Field(description="provider attempts made so far")
    next_attempt_at: datetime | None = Field(description="when a pending refund is retried")
    created_at: datetime
    updated_at: datetime


class PaymentRead(BaseModel):
    payment_id: str
    order_id: UUID
    method: str
    provider: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    amount: int = Field(description="authorized (or attempted) amount in minor units")
    currency: str
    status: str = Field(
        description="not_paid, authorized, captured, partially_refunded, refunded, failed or"
        " voided, as the ledger has it"
    )
    authorization_reference: str | None
    capture_reference: str | None
    failure_reason: str | None
    refunded_amount: int = Field(description="sum of the succeeded refunds, in minor units")
    created_at: datetime
    updated_at: datetime
    refunds: list[RefundRead]


async def get_payment(session: AsyncSession, order_id: UUID) -> PaymentRead | None:
    """The order's payment with its refunds, oldest refund first."""
    query = select(payments).where(payments.c.order_id == order_id)
    row = (await session.execute(query)).mappings().first()
    if row is None:
        return None
    rows = (
        await session.execute(
            select(refunds)
            .where(refunds.c.payment_id == row["payment_id"])
            .order_by(refunds.c.created_at, refunds.c.refund_id)
        )
    ).mappings()
    refund_list = [RefundRead.model_validate(dict(r)) for r in rows]
    return PaymentRead.model_validate(
        {
            **row,
            "refunds": refund_list,
            "refunded_amount": sum(r.amount for r in refund_list if r.status == "succeeded"),
        }
    )
