"""Stores and loads payments and refunds (SQLAlchemy Core, inside the caller's transaction)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_payment.adapters.orm import payments, refunds
from orderly_payment.domain.payments import Payment, PaymentStatus, Refund, RefundStatus
from orderly_schemas.base import Money


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_order(self, order_id: UUID) -> None:
        """Serialise this transaction with every other capture or refund of the order.

        An advisory lock, because the first capture has no row to lock yet; it is
        released when the transaction ends.
        """
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"payment:{order_id}"},
        )

    async def payment_of(self, order_id: UUID) -> Payment | None:
        query = select(payments).where(payments.c.order_id == order_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_payment(row)

    async def add_payment(self, payment: Payment) -> None:
        await self.session.execute(
            insert(payments).values(
                payment_id=payment.payment_id,
                order_id=payment.order_id,
                method=payment.method,
                token_last4=payment.token_last4,
                amount=payment.amount.amount,
                currency=payment.amount.currency,
                status=payment.status.value,
                provider_reference=payment.provider_reference,
                failure_reason=payment.failure_reason,
                idempotency_key=payment.idempotency_key,
                created_at=payment.created_at,
                updated_at=payment.created_at,
            )
        )

    async def refund(self, refund_id: str) -> Refund | None:
        query = select(refunds).where(refunds.c.refund_id == refund_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_refund(row)

    async def refunded_amount(self, payment_id: str) -> int:
        """What succeeded refunds of the payment returned, in minor units."""
        total = await self.session.scalar(
            select(func.coalesce(func.sum(refunds.c.amount), 0))
            .where(refunds.c.payment_id == payment_id)
            .where(refunds.c.status == RefundStatus.SUCCEEDED.value)
        )
        return int(total or 0)

    async def add_refund(self, refund: Refund) -> None:
        await self.session.execute(
            insert(refunds).values(
                refund_id=refund.refund_id,
                order_id=refund.order_id,
                payment_id=refund.payment_id,
                amount=refund.amount.amount,
                currency=refund.amount.currency,
                status=refund.status.value,
                provider_reference=refund.provider_reference,
                reason=refund.reason,
                failure_reason=refund.failure_reason,
                created_at=refund.created_at,
            )
        )


def _to_payment(row: Any) -> Payment:
    return Payment(
        payment_id=row["payment_id"],
        order_id=row["order_id"],
        method=row["method"],
        token_last4=row["token_last4"],
        amount=Money(amount=row["amount"], currency=row["currency"]),
        status=PaymentStatus(row["status"]),
        provider_reference=row["provider_reference"],
        failure_reason=row["failure_reason"],
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
    )


def _to_refund(row: Any) -> Refund:
    return Refund(
        refund_id=row["refund_id"],
        order_id=row["order_id"],
        payment_id=row["payment_id"],
        amount=Money(amount=row["amount"], currency=row["currency"]),
        status=RefundStatus(row["status"]),
        provider_reference=row["provider_reference"],
        reason=row["reason"],
        failure_reason=row["failure_reason"],
        created_at=row["created_at"],
    )
