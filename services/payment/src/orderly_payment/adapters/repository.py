"""Stores and loads payments, refunds and voids (SQLAlchemy Core, in the caller's transaction)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_payment.adapters.orm import payment_voids, payments, refund_attempts, refunds
from orderly_payment.domain.payments import (
    AttemptStatus,
    Payment,
    PaymentStatus,
    PaymentVoid,
    Refund,
    RefundAttempt,
    RefundStatus,
)
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

    # -- payments -------------------------------------------------------------------
    async def payment_of(self, order_id: UUID) -> Payment | None:
        query = select(payments).where(payments.c.order_id == order_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_payment(row)

    async def payment(self, payment_id: str) -> Payment:
        query = select(payments).where(payments.c.payment_id == payment_id)
        return _to_payment((await self.session.execute(query)).mappings().one())

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

    # -- voids ----------------------------------------------------------------------
    async def void(self, refund_id: str) -> PaymentVoid | None:
        query = select(payment_voids).where(payment_voids.c.refund_id == refund_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_void(row)

    async def void_of(self, order_id: UUID) -> PaymentVoid | None:
        """The order's first void, if its payment was voided."""
        query = (
            select(payment_voids)
            .where(payment_voids.c.order_id == order_id)
            .order_by(payment_voids.c.created_at)
            .limit(1)
        )
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_void(row)

    async def add_void(self, void: PaymentVoid) -> None:
        await self.session.execute(
            insert(payment_voids).values(
                refund_id=void.refund_id,
                order_id=void.order_id,
                reason=void.reason,
                created_at=void.created_at,
            )
        )

    # -- refunds --------------------------------------------------------------------
    async def refund(self, refund_id: str) -> Refund | None:
        query = select(refunds).where(refunds.c.refund_id == refund_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_refund(row)

    async def lock_next_due_refund(
        self, *, now: datetime, skip: Collection[str] = ()
    ) -> Refund | None:
        """The pending refund longest due that no other transaction holds, locked."""
        query = (
            select(refunds)
            .where(refunds.c.status == RefundStatus.PENDING.value)
            .where(refunds.c.next_attempt_at <= now)
            .order_by(refunds.c.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if skip:
            query = query.where(refunds.c.refund_id.not_in(list(skip)))
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
        await self.session.execute(insert(refunds).values(**_refund_values(refund)))

    async def update_refund(self, refund: Refund) -> None:
        await self.session.execute(
            update(refunds)
            .where(refunds.c.refund_id == refund.refund_id)
            .values(**_refund_values(refund))
        )

    # -- refund attempts ------------------------------------------------------------
    async def last_attempt(self, refund_id: str) -> RefundAttempt | None:
        query = (
            select(refund_attempts)
            .where(refund_attempts.c.refund_id == refund_id)
            .order_by(refund_attempts.c.attempt.desc())
            .limit(1)
        )
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _to_attempt(row)

    async def attempts(self, refund_id: str) -> list[RefundAttempt]:
        query = (
            select(refund_attempts)
            .where(refund_attempts.c.refund_id == refund_id)
            .order_by(refund_attempts.c.attempt)
        )
        return [_to_attempt(r) for r in (await self.session.execute(query)).mappings()]

    async def add_attempt(self, attempt: RefundAttempt) -> None:
        await self.session.execute(insert(refund_attempts).values(**_attempt_values(attempt)))

    async def update_attempt(self, attempt: RefundAttempt) -> None:
        await self.session.execute(
            update(refund_attempts)
            .where(refund_attempts.c.refund_id == attempt.refund_id)
            .where(refund_attempts.c.attempt == attempt.attempt)
            .values(**_attempt_values(attempt))
        )


def _refund_values(refund: Refund) -> dict[str, Any]:
    return {
        "refund_id": refund.refund_id,
        "order_id": refund.order_id,
        "payment_id": refund.payment_id,
        "amount": refund.amount.amount,
        "currency": refund.amount.currency,
        "status": refund.status.value,
        "provider_reference": refund.provider_reference,
        "reason": refund.reason,
        "failure_reason": refund.failure_reason,
        "attempts": refund.attempts,
        "next_attempt_at": refund.next_attempt_at,
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
    }


def _attempt_values(attempt: RefundAttempt) -> dict[str, Any]:
    return {
        "refund_id": attempt.refund_id,
        "attempt": attempt.attempt,
        "order_id": attempt.order_id,
        "idempotency_key": attempt.idempotency_key,
        "amount": attempt.amount.amount,
        "currency": attempt.amount.currency,
        "status": attempt.status.value,
        "provider_reference": attempt.provider_reference,
        "reason": attempt.reason,
        "requested_at": attempt.requested_at,
        "answered_at": attempt.answered_at,
    }


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


def _to_void(row: Any) -> PaymentVoid:
    return PaymentVoid(
        refund_id=row["refund_id"],
        order_id=row["order_id"],
        reason=row["reason"],
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
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _to_attempt(row: Any) -> RefundAttempt:
    return RefundAttempt(
        refund_id=row["refund_id"],
        attempt=row["attempt"],
        order_id=row["order_id"],
        idempotency_key=row["idempotency_key"],
        amount=Money(amount=row["amount"], currency=row["currency"]),
        status=AttemptStatus(row["status"]),
        provider_reference=row["provider_reference"],
        reason=row["reason"],
        requested_at=row["requested_at"],
        answered_at=row["answered_at"],
    )
