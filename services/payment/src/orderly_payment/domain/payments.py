"""Payments, charges, refunds and voids: what was decided, and the events that announce it
(no I/O).

A payment is one per order: an authorization and then its capture (see ``ledger``
for the operations and how the status follows from them). Once captured or failed
it is final: a repeated CapturePayment re-announces the recorded outcome. A charge is
one ChargePayment (its charge id): more taken from a captured payment's method in
the payment's currency, decided once and re-announced as decided. A refund is one
RefundPayment (its refund id), carried out by one or more provider attempts: a
rejected attempt is retried with backoff until one succeeds or the attempts run
out, and a refund of more than is left of the capture draws on the charges, one
attempt each. A void records that an order's payment was never captured and never
may be: a RefundPayment that finds nothing captured voids the order instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4

from orderly_payment.domain.ledger import (
    Operation,
    OperationKind,
    OperationStatus,
    PaymentStatus,
    payment_status,
)
from orderly_schemas.base import Money
from orderly_schemas.payment import (
    ChargeFailed,
    ChargePayment,
    PaymentCaptured,
    PaymentCharged,
    PaymentFailed,
    PaymentRefunded,
    PaymentVoided,
    RefundFailed,
    RefundPayment,
)

NO_CAPTURED_PAYMENT = "no captured payment for order"
CANCELLED_BEFORE_CAPTURE = "order cancelled before its payment was captured"


class ChargeStatus(StrEnum):
    PENDING = "pending"  # sent; the provider's answer is awaited (a webhook, or a re-send)
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundStatus(StrEnum):
    PENDING = "pending"  # an attempt failed; another is scheduled
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def new_payment_id() -> str:
    return f"pay_{uuid4().hex}"


@dataclass(frozen=True)
class RefundRetryPolicy:
    """How often, and how far apart, rejected refund attempts are retried."""

    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(minutes=15)

    def delay(self, failed_attempts: int, *, jitter: float) -> timedelta:
        """The wait after ``failed_attempts`` failures: doubling from ``backoff``, capped.

        ``jitter`` (0.5 to 1.0, drawn by the caller) spreads retries of many refunds.
        """
        # In float seconds: a long run of failures must not overflow a timedelta.
        doubled = self.backoff.total_seconds() * 2.0 ** min(max(failed_attempts - 1, 0), 60)
        return timedelta(seconds=min(doubled, self.backoff_max.total_seconds()) * jitter)


@dataclass(frozen=True)
class CardDisplay:
    """What may be shown of the method: never enough to charge it."""

    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True)
class Payment:
    """An order's payment: the method, what may be shown of it, and where the ledger stands.

    ``status`` and the references are kept in step with the ledger (see ``settled``);
    the ledger's entries are the authority.
    """

    payment_id: str
    order_id: UUID
    method: str
    provider: str
    display: CardDisplay
    amount: Money
    status: PaymentStatus
    authorization_reference: str | None
    capture_reference: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def new(
        cls,
        *,
        order_id: UUID,
        method: str,
        provider: str,
        display: CardDisplay,
        amount: Money,
        now: datetime,
    ) -> Payment:
        return cls(
            payment_id=new_payment_id(),
            order_id=order_id,
            method=method,
            provider=provider,
            display=display,
            amount=amount,
            status=PaymentStatus.NOT_PAID,
            authorization_reference=None,
            capture_reference=None,
            failure_reason=None,
            created_at=now,
            updated_at=now,
        )

    @property
    def captured(self) -> bool:
        return self.status in (
            PaymentStatus.CAPTURED,
            PaymentStatus.PARTIALLY_REFUNDED,
            PaymentStatus.REFUNDED,
        )

    def settled(self, ops: Sequence[Operation], now: datetime, *, voided: bool = False) -> Payment:
        """The payment as its ledger entries ``ops`` now have it.

        ``voided``: the order's payment was voided (cancelled before capture); with no
        capture and no failure in the ledger, that is the payment's status even when
        no hold had to be released at the provider.
        """
        reference = {
            o.kind: o.provider_reference
            for o in ops
            if o.status in (OperationStatus.SUCCEEDED, OperationStatus.PENDING)
            and o.kind in (OperationKind.AUTHORIZE, OperationKind.CAPTURE)
        }
        failed = [
            o
            for o in ops
            if o.status is OperationStatus.FAILED
            and o.kind in (OperationKind.AUTHORIZE, OperationKind.CAPTURE)
        ]
        status = payment_status(ops)
        if voided and status in (PaymentStatus.NOT_PAID, PaymentStatus.AUTHORIZED):
            status = PaymentStatus.VOIDED
        settled = replace(
            self,
            status=status,
            authorization_reference=reference.get(OperationKind.AUTHORIZE),
            capture_reference=reference.get(OperationKind.CAPTURE),
            failure_reason=failed[-1].reason if failed else None,
        )
        # Unchanged, it keeps its time: a re-announced outcome is the same event again.
        return self if settled == self else replace(settled, updated_at=now)

    def outcome(self) -> PaymentCaptured | PaymentFailed | None:
        """The event the saga waits for, once the payment has one; None before that."""
        if self.captured:
            return PaymentCaptured(
                order_id=self.order_id,
                occurred_at=self.updated_at,
                payment_id=self.payment_id,
                amount=self.amount,
                provider_reference=self.capture_reference or "",
            )
        if self.status is PaymentStatus.FAILED:
            return PaymentFailed(
                order_id=self.order_id,
                occurred_at=self.updated_at,
                reason=self.failure_reason or "payment failed",
            )
        return None


@dataclass(frozen=True)
class PaymentVoid:
    """No capture may happen for the order: a refund found nothing captured."""

    refund_id: str
    order_id: UUID
    reason: str  # why the refund was asked for
    created_at: datetime

    def outcome(self) -> PaymentVoided:
        return PaymentVoided(
            order_id=self.order_id,
            occurred_at=self.created_at,
            refund_id=self.refund_id,
            reason=self.reason,
        )

    def refused_capture(self, now: datetime) -> PaymentFailed:
        """The answer to a capture that arrives after the void (a late re-send, a replay)."""
        return PaymentFailed(
            order_id=self.order_id, occurred_at=now, reason=CANCELLED_BEFORE_CAPTURE
        )


@dataclass(frozen=True)
class Refund:
    refund_id: str
    order_id: UUID
    payment_id: str
    amount: Money
    status: RefundStatus
    provider_reference: str | None  # of the succeeded attempt, or of the last answered one
    reason: str  # why the refund was asked for
    failure_reason: str | None  # the last attempt's, while pending or once failed
    attempts: int  # provider calls made
    next_attempt_at: datetime | None  # set while pending
    created_at: datetime
    updated_at: datetime
    requested_by: str | None = None  # a finance user; None when the saga asked

    @classmethod
    def requested(
        cls,
        *,
        refund_id: str,
        order_id: UUID,
        payment_id: str,
        amount: Money,
        reason: str,
        now: datetime,
        requested_by: str | None = None,
    ) -> Refund:
        """A refund accepted for the provider, before its first attempt."""
        return cls(
            refund_id=refund_id,
            order_id=order_id,
            payment_id=payment_id,
            amount=amount,
            status=RefundStatus.PENDING,
            provider_reference=None,
            reason=reason,
            failure_reason=None,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
            requested_by=requested_by,
        )

    def answered(
        self,
        *,
        approved: bool,
        reference: str | None,
        failure_reason: str | None,
        policy: RefundRetryPolicy,
        jitter: float,
        now: datetime,
        left: int = 0,
    ) -> Refund:
        """The refund after one more provider call: succeeded, retried later, or failed.

        ``left``: what the refund still has to return once this call's amount is back (more
        than zero when the call returned part of it, of the capture or of one charge); the
        next part is then due at once.
        """
        attempts = self.attempts + 1
        if approved and left > 0:
            return replace(
                self,
                status=RefundStatus.PENDING,
                provider_reference=reference,
                failure_reason=None,
                attempts=attempts,
                next_attempt_at=now,
                updated_at=now,
            )
        if approved:
            return replace(
                self,
                status=RefundStatus.SUCCEEDED,
                provider_reference=reference,
                failure_reason=None,
                attempts=attempts,
                next_attempt_at=None,
                updated_at=now,
            )
        failed = replace(
            self,
            provider_reference=reference or self.provider_reference,
            failure_reason=failure_reason or "refund failed",
            attempts=attempts,
            updated_at=now,
        )
        if attempts >= policy.max_attempts:
            return replace(failed, status=RefundStatus.FAILED, next_attempt_at=None)
        return replace(
            failed,
            status=RefundStatus.PENDING,
            next_attempt_at=now + policy.delay(attempts, jitter=jitter),
        )

    def refused(self, reason: str, now: datetime) -> Refund:
        """Failed for good without asking the provider again (nothing left to refund, say)."""
        return replace(
            self,
            status=RefundStatus.FAILED,
            failure_reason=reason,
            next_attempt_at=None,
            updated_at=now,
        )

    def outcome(self) -> PaymentRefunded | RefundFailed | None:
        """The event that announces this refund's outcome; None while it is pending."""
        if self.status is RefundStatus.SUCCEEDED:
            return PaymentRefunded(
                order_id=self.order_id,
                occurred_at=self.updated_at,
                refund_id=self.refund_id,
                amount=self.amount,
                provider_reference=self.provider_reference or "",
            )
        if self.status is RefundStatus.FAILED:
            return RefundFailed(
                order_id=self.order_id,
                occurred_at=self.updated_at,
                refund_id=self.refund_id,
                amount=self.amount,
                reason=self.failure_reason or "refund failed",
                attempts=max(self.attempts, 1),
            )
        return None


def refused_refund(command: RefundPayment, reason: str, *, now: datetime) -> RefundFailed:
    """The answer to a RefundPayment that was not sent to the provider (see ``refund_refusal``)."""
    return RefundFailed(
        order_id=command.order_id,
        occurred_at=now,
        refund_id=command.refund_id,
        amount=command.amount,
        reason=reason,
        attempts=1,
    )


def refund_refusal(
    payment: Payment, *, charged: int, refunded: int, requested: Money
) -> str | None:
    """Why a refund of ``requested`` must not reach the provider, or None if it may.

    ``charged`` is what succeeded charges took after the capture, ``refunded`` what
    succeeded refunds of ``payment`` already returned, both in its currency's minor units.
    """
    if not payment.captured:
        return NO_CAPTURED_PAYMENT
    captured = payment.amount
    if requested.currency != captured.currency:
        return (
            f"refund currency {requested.currency} differs from the captured currency"
            f" {captured.currency}"
        )
    if requested.amount <= 0:
        return f"refund amount must be greater than zero (got {requested.amount})"
    refundable = captured.amount + charged - refunded
    if requested.amount > refundable:
        taken = f"{captured.amount} captured, " + (f"{charged} charged, " if charged else "")
        return (
            f"refund exceeds captured amount: {requested.amount} requested, {refundable}"
            f" refundable ({taken}{refunded} already refunded,"
            f" {captured.currency} minor units)"
        )
    return None


@dataclass(frozen=True)
class Charge:
    """One ChargePayment (its charge id): more taken from the order's payment method.

    Refused before the provider (``payment_id`` None when the order has no payment), or
    sent as one ledger entry (``charge:<charge id>``) whose answer it follows.
    """

    charge_id: str
    order_id: UUID
    payment_id: str | None
    amount: Money
    status: ChargeStatus
    provider_reference: str | None
    reason: str  # why the charge was asked for
    failure_reason: str | None  # the provider's refusal, ours, or why no answer came yet
    created_at: datetime
    updated_at: datetime

    @classmethod
    def requested(cls, command: ChargePayment, *, payment_id: str, now: datetime) -> Charge:
        """A charge accepted for the provider, before its answer."""
        return cls(
            charge_id=command.charge_id,
            order_id=command.order_id,
            payment_id=payment_id,
            amount=command.amount,
            status=ChargeStatus.PENDING,
            provider_reference=None,
            reason=command.reason,
            failure_reason=None,
            created_at=now,
            updated_at=now,
        )

    @classmethod
    def refused(
        cls, command: ChargePayment, refusal: str, *, payment: Payment | None, now: datetime
    ) -> Charge:
        """A charge that must not reach the provider (see ``charge_refusal``)."""
        return cls(
            charge_id=command.charge_id,
            order_id=command.order_id,
            payment_id=payment.payment_id if payment else None,
            amount=command.amount,
            status=ChargeStatus.FAILED,
            provider_reference=None,
            reason=command.reason,
            failure_reason=refusal,
            created_at=now,
            updated_at=now,
        )

    def settled(self, operation: Operation, now: datetime) -> Charge:
        """The charge as its ledger entry ``operation`` now has it."""
        status = {
            OperationStatus.SUCCEEDED: ChargeStatus.SUCCEEDED,
            OperationStatus.FAILED: ChargeStatus.FAILED,
        }.get(operation.status, ChargeStatus.PENDING)
        settled = replace(
            self,
            status=status,
            provider_reference=operation.provider_reference,
            failure_reason=operation.reason,
        )
        # Unchanged, it keeps its time: a re-announced outcome is the same event again.
        return self if settled == self else replace(settled, updated_at=now)

    def outcome(self) -> PaymentCharged | ChargeFailed | None:
        """The event that announces the charge's outcome; None while it is pending."""
        if self.status is ChargeStatus.SUCCEEDED:
            return PaymentCharged(
                order_id=self.order_id,
                occurred_at=self.updated_at,
                charge_id=self.charge_id,
                amount=self.amount,
                provider_reference=self.provider_reference or "",
            )
        if self.status is ChargeStatus.FAILED:
            return ChargeFailed(
                order_id=self.order_id,
                occurred_at=self.updated_at,
                charge_id=self.charge_id,
                amount=self.amount,
                reason=self.failure_reason or "charge failed",
            )
        return None


def charge_refusal(payment: Payment | None, requested: Money) -> str | None:
    """Why a charge of ``requested`` must not reach the provider, or None if it may.

    Only a captured payment is charged more (a refunded one too: its method took money),
    in the currency it was captured in, and by more than nothing.
    """
    if payment is None:
        return "no captured payment to charge: no payment of the order was attempted"
    if not payment.captured:
        return f"no captured payment to charge: the order's payment is {payment.status.value}"
    if requested.currency != payment.amount.currency:
        return (
            f"charge currency {requested.currency} differs from the payment's currency"
            f" {payment.amount.currency}"
        )
    if requested.amount <= 0:
        return f"charge amount must be greater than zero (got {requested.amount})"
    return None
