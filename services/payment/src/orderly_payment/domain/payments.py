"""Payments and refunds: what was decided, and the events that announce it (no I/O).

A payment is one capture attempt per order, captured or failed, and final: a
repeated CapturePayment re-announces the recorded outcome. A refund is one
provider refund attempt, identified by the refund id of its RefundPayment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid4

from orderly_schemas.base import Money
from orderly_schemas.payment import PaymentCaptured, PaymentFailed, PaymentRefunded, RefundFailed

NO_CAPTURED_PAYMENT = "no captured payment for order"


class PaymentStatus(StrEnum):
    CAPTURED = "captured"
    FAILED = "failed"


class RefundStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def new_payment_id() -> str:
    return f"pay_{uuid4().hex}"


def capture_idempotency_key(order_id: UUID) -> str:
    """One capture per order, however often it is asked for or retried."""
    return f"capture:{order_id}"


def refund_idempotency_key(refund_id: str) -> str:
    return f"refund:{refund_id}"


def last4(token: str) -> str | None:
    """The last four characters of a token, kept for support; None if that is all of it."""
    return token[-4:] if len(token) > 4 else None


@dataclass(frozen=True)
class Payment:
    payment_id: str
    order_id: UUID
    method: str
    token_last4: str | None
    amount: Money
    status: PaymentStatus
    provider_reference: str
    failure_reason: str | None
    idempotency_key: str
    created_at: datetime

    def outcome(self) -> PaymentCaptured | PaymentFailed:
        """The event that announces this payment's outcome."""
        if self.status is PaymentStatus.CAPTURED:
            return PaymentCaptured(
                order_id=self.order_id,
                occurred_at=self.created_at,
                payment_id=self.payment_id,
                amount=self.amount,
                provider_reference=self.provider_reference,
            )
        return PaymentFailed(
            order_id=self.order_id,
            occurred_at=self.created_at,
            reason=self.failure_reason or "payment failed",
        )


@dataclass(frozen=True)
class Refund:
    refund_id: str
    order_id: UUID
    payment_id: str
    amount: Money
    status: RefundStatus
    provider_reference: str
    reason: str  # why the refund was asked for
    failure_reason: str | None
    created_at: datetime

    def outcome(self) -> PaymentRefunded | RefundFailed:
        """The event that announces this refund's outcome."""
        if self.status is RefundStatus.SUCCEEDED:
            return PaymentRefunded(
                order_id=self.order_id,
                occurred_at=self.created_at,
                refund_id=self.refund_id,
                amount=self.amount,
                provider_reference=self.provider_reference,
            )
        return RefundFailed(
            order_id=self.order_id,
            occurred_at=self.created_at,
            refund_id=self.refund_id,
            amount=self.amount,
            reason=self.failure_reason or "refund failed",
        )


def refund_refusal(payment: Payment, *, refunded: int, requested: Money) -> str | None:
    """Why a refund of ``requested`` must not reach the provider, or None if it may.

    ``refunded`` is what succeeded refunds of ``payment`` already returned, in its
    currency's minor units.
    """
    if payment.status is not PaymentStatus.CAPTURED:
        return NO_CAPTURED_PAYMENT
    captured = payment.amount
    if requested.currency != captured.currency:
        return (
            f"refund currency {requested.currency} differs from the captured currency"
            f" {captured.currency}"
        )
    if requested.amount <= 0:
        return f"refund amount must be greater than zero (got {requested.amount})"
    refundable = captured.amount - refunded
    if requested.amount > refundable:
        return (
            f"refund exceeds captured amount: {requested.amount} requested, {refundable}"
            f" refundable ({captured.amount} captured, {refunded} already refunded,"
            f" {captured.currency} minor units)"
        )
    return None
