"""Read models for the HTTP API: an order's payment with its charges, refunds and ledger."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_payment.adapters.orm import refunds
from orderly_payment.adapters.repository import PaymentRepository
from orderly_payment.domain.ledger import (
    Operation,
    captured_amount,
    charged_amount,
    refunded_amount,
)
from orderly_payment.domain.payments import Charge, Refund


class ChargeRead(BaseModel):
    """One ChargePayment: more taken from the method after the capture."""

    charge_id: str
    amount: int = Field(description="in minor units of the currency")
    currency: str
    status: str = Field(
        description="pending (the provider's answer is awaited), succeeded or failed"
    )
    provider_reference: str | None = Field(description="the provider's, once it answered")
    reason: str = Field(description="why the charge was asked for")
    failure_reason: str | None = Field(
        description="why it failed: the provider's refusal, or ours before asking it"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, charge: Charge) -> ChargeRead:
        return cls(
            charge_id=charge.charge_id,
            amount=charge.amount.amount,
            currency=charge.amount.currency,
            status=charge.status.value,
            provider_reference=charge.provider_reference,
            reason=charge.reason,
            failure_reason=charge.failure_reason,
            created_at=charge.created_at,
            updated_at=charge.updated_at,
        )


class RefundRead(BaseModel):
    refund_id: str
    amount: int = Field(description="in minor units of the currency")
    currency: str
    status: str = Field(description="pending (a retry is scheduled), succeeded or failed")
    provider_reference: str | None = Field(
        description="of the succeeded attempt, or of the last one the provider answered"
    )
    reason: str = Field(description="why the refund was asked for")
    requested_by: str | None = Field(
        description="the finance user who asked for it by hand; null when the saga asked"
    )
    failure_reason: str | None = Field(description="the last failed attempt's reason")
    attempts: int = Field(description="provider attempts made so far")
    next_attempt_at: datetime | None = Field(description="when a pending refund is retried")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, refund: Refund) -> RefundRead:
        return cls(
            refund_id=refund.refund_id,
            amount=refund.amount.amount,
            currency=refund.amount.currency,
            status=refund.status.value,
            provider_reference=refund.provider_reference,
            reason=refund.reason,
            requested_by=refund.requested_by,
            failure_reason=refund.failure_reason,
            attempts=refund.attempts,
            next_attempt_at=refund.next_attempt_at,
            created_at=refund.created_at,
            updated_at=refund.updated_at,
        )


class LedgerEntryRead(BaseModel):
    """One provider operation, as requested and as answered."""

    kind: str = Field(description="authorize, capture, void, charge or refund")
    idempotency_key: str = Field(description="the key the provider was called with")
    status: str = Field(
        description="requested (no answer known yet), pending (the provider answers by"
        " webhook), succeeded or failed"
    )
    provider: str
    amount: int = Field(description="in minor units of the currency")
    currency: str
    provider_reference: str | None
    reason: str | None = Field(description="the provider's refusal, or why no answer came")
    refund_id: str | None = Field(description="for a refund attempt: its refund")
    attempt: int | None = Field(description="for a refund attempt: its number, from 1")
    charge_id: str | None = Field(
        description="for a charge, its id; for a refund attempt, the charge it returns money"
        " of (null: the capture)"
    )
    requested_at: datetime
    answered_at: datetime | None

    @classmethod
    def of(cls, op: Operation) -> LedgerEntryRead:
        return cls(
            kind=op.kind.value,
            idempotency_key=op.idempotency_key,
            status=op.status.value,
            provider=op.provider,
            amount=op.amount.amount,
            currency=op.amount.currency,
            provider_reference=op.provider_reference,
            reason=op.reason,
            refund_id=op.refund_id,
            attempt=op.attempt,
            charge_id=op.charge_id,
            requested_at=op.requested_at,
            answered_at=op.answered_at,
        )


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
    captured_amount: int = Field(description="what succeeded captures took, in minor units")
    charged_amount: int = Field(
        description="what succeeded charges took after the capture, in minor units"
    )
    refunded_amount: int = Field(description="what succeeded refunds returned, in minor units")
    refundable_amount: int = Field(
        description="what a new refund may still return: captured and charged less refunded"
        " (a pending refund is checked against it again before each of its attempts)"
    )
    pending_refund_amount: int = Field(
        description="what pending refunds (awaiting a retry) would still return"
    )
    created_at: datetime
    updated_at: datetime
    charges: list[ChargeRead] = Field(description="oldest first")
    refunds: list[RefundRead] = Field(description="oldest first")
    ledger: list[LedgerEntryRead] = Field(description="every provider operation, oldest first")


async def get_payment(session: AsyncSession, order_id: UUID) -> PaymentRead | None:
    """The order's payment with its refunds and ledger entries; None if none was attempted."""
    repo = PaymentRepository(session)
    payment = await repo.payment_of(order_id)
    if payment is None:
        return None
    ops = await repo.operations(payment.payment_id)
    # The status as the ledger gives it (a void without a hold to release included), not
    # the stored one, so that a drift cannot hide here.
    status = payment.settled(
        ops, payment.updated_at, voided=await repo.void_of(order_id) is not None
    ).status
    rows = await session.execute(
        select(refunds)
        .where(refunds.c.payment_id == payment.payment_id)
        .order_by(refunds.c.created_at, refunds.c.refund_id)
    )
    refund_list = [RefundRead.model_validate(dict(r)) for r in rows.mappings()]
    captured, charged, refunded = captured_amount(ops), charged_amount(ops), refunded_amount(ops)
    return PaymentRead(
        payment_id=payment.payment_id,
        order_id=payment.order_id,
        method=payment.method,
        provider=payment.provider,
        brand=payment.display.brand,
        last4=payment.display.last4,
        exp_month=payment.display.exp_month,
        exp_year=payment.display.exp_year,
        amount=payment.amount.amount,
        currency=payment.amount.currency,
        status=status.value,
        authorization_reference=payment.authorization_reference,
        capture_reference=payment.capture_reference,
        failure_reason=payment.failure_reason,
        captured_amount=captured,
        charged_amount=charged,
        refunded_amount=refunded,
        refundable_amount=max(captured + charged - refunded, 0),
        pending_refund_amount=sum(r.amount for r in refund_list if r.status == "pending"),
        created_at=payment.created_at,
        updated_at=payment.updated_at,
        charges=[ChargeRead.of(c) for c in await repo.charges_of(payment.payment_id)],
        refunds=refund_list,
        ledger=[LedgerEntryRead.of(o) for o in ops],
    )
