"""The payment ledger: every provider operation, as requested and then as answered (no I/O).

Each authorize, capture, void and refund attempt is one entry under its own
idempotency key. It is written as *requested* before the provider is called (and
committed on its own, so a crash cannot erase the fact that money may have
moved), then *succeeded* or *failed* with the provider's reference and reason, or
*pending* when the provider will answer later by webhook. A payment's status is
never stored on its own authority: it follows from these entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from orderly_schemas.base import Money


class OperationKind(StrEnum):
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class OperationStatus(StrEnum):
    REQUESTED = "requested"  # sent (or about to be); the answer is not known
    PENDING = "pending"  # the provider took it and will answer by webhook
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def answered(self) -> bool:
        return self in (OperationStatus.SUCCEEDED, OperationStatus.FAILED)


class PaymentStatus(StrEnum):
    """An order's payment as finance sees it, derived from the ledger."""

    NOT_PAID = "not_paid"  # nothing authorized yet (or the answer is awaited)
    AUTHORIZED = "authorized"  # held on the customer's method, not yet taken
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    FAILED = "failed"  # declined, or the capture failed and the hold was released
    VOIDED = "voided"  # released before capture: the order was cancelled


def authorize_key(order_id: UUID) -> str:
    """One authorization per order, however often it is asked for or retried."""
    return f"authorize:{order_id}"


def capture_key(order_id: UUID) -> str:
    """One capture per order: the key every retry of it carries."""
    return f"capture:{order_id}"


def void_key(order_id: UUID) -> str:
    return f"void:{order_id}"


def refund_attempt_key(refund_id: str, attempt: int) -> str:
    """One provider operation per attempt: a retry is new, a redelivered attempt is not."""
    return f"refund:{refund_id}:{attempt}"


@dataclass(frozen=True)
class Operation:
    """One entry of the ledger: what was asked of the provider and what it answered."""

    idempotency_key: str
    kind: OperationKind
    order_id: UUID
    payment_id: str
    provider: str
    amount: Money
    status: OperationStatus
    provider_reference: str | None
    reason: str | None  # the provider's refusal, or why no answer came
    requested_at: datetime
    answered_at: datetime | None
    refund_id: str | None = None
    attempt: int | None = None  # of a refund

    @classmethod
    def requested(
        cls,
        *,
        kind: OperationKind,
        idempotency_key: str,
        order_id: UUID,
        payment_id: str,
        provider: str,
        amount: Money,
        now: datetime,
        refund_id: str | None = None,
        attempt: int | None = None,
    ) -> Operation:
        return cls(
            idempotency_key=idempotency_key,
            kind=kind,
            order_id=order_id,
            payment_id=payment_id,
            provider=provider,
            amount=amount,
            status=OperationStatus.REQUESTED,
            provider_reference=None,
            reason=None,
            requested_at=now,
            answered_at=None,
            refund_id=refund_id,
            attempt=attempt,
        )

    def answered(
        self, *, approved: bool, reference: str | None, reason: str | None, now: datetime
    ) -> Operation:
        return replace(
            self,
            status=OperationStatus.SUCCEEDED if approved else OperationStatus.FAILED,
            provider_reference=reference or self.provider_reference,
            reason=None if approved else (reason or f"{self.kind.value} failed"),
            answered_at=now,
        )

    def pending(self, *, reference: str) -> Operation:
        """Taken by the provider, who will answer by webhook."""
        return replace(self, status=OperationStatus.PENDING, provider_reference=reference)

    def unanswered(self, reason: str) -> Operation:
        """Still requested: the provider may have executed it, so only its key may retry it."""
        return replace(self, reason=reason)


def _succeeded(ops: Iterable[Operation], kind: OperationKind) -> list[Operation]:
    return [o for o in ops if o.kind is kind and o.status is OperationStatus.SUCCEEDED]


def refunded_amount(ops: Iterable[Operation]) -> int:
    """What succeeded refunds returned, in minor units."""
    return sum(o.amount.amount for o in _succeeded(ops, OperationKind.REFUND))


def captured_amount(ops: Iterable[Operation]) -> int:
    return sum(o.amount.amount for o in _succeeded(ops, OperationKind.CAPTURE))


def payment_status(ops: Iterable[Operation]) -> PaymentStatus:
    """The payment's status as its ledger entries have it."""
    ops = list(ops)
    captured = captured_amount(ops)
    if captured:
        refunded = refunded_amount(ops)
        if refunded == 0:
            return PaymentStatus.CAPTURED
        return PaymentStatus.REFUNDED if refunded >= captured else PaymentStatus.PARTIALLY_REFUNDED
    # A capture that failed ends in a released hold (a void), but the payment failed.
    if any(
        o.kind in (OperationKind.AUTHORIZE, OperationKind.CAPTURE)
        and o.status is OperationStatus.FAILED
        for o in ops
    ):
        return PaymentStatus.FAILED
    if _succeeded(ops, OperationKind.VOID):
        return PaymentStatus.VOIDED
    if _succeeded(ops, OperationKind.AUTHORIZE):
        return PaymentStatus.AUTHORIZED
    return PaymentStatus.NOT_PAID
