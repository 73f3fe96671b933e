"""The payment ledger: every provider operation, as requested and then as answered (no I/O).

Each authorize, capture, void, charge and refund attempt is one entry under its
own idempotency key. It is written as *requested* before the provider is called (and
committed on its own, so a crash cannot erase the fact that money may have
moved), then *succeeded* or *failed* with the provider's reference and reason, or
*pending* when the provider will answer later by webhook. A payment's status is
never stored on its own authority: it follows from these entries.

A charge takes more from the method after the capture (an exchange's price
difference), authorized and captured in one provider call. Money taken, the
capture and the charges, is refunded from the capture first and then from each
charge in the order it was taken: a provider refunds an operation of its own, so a
refund of more than is left of one takes one attempt for each it draws on.
"""

from __future__ import annotations

from collections import defaultdict
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
    CHARGE = "charge"  # more taken after the capture, authorized and captured at once


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


def charge_key(charge_id: str) -> str:
    """One provider charge per ChargePayment (its charge id), however often it is sent."""
    return f"charge:{charge_id}"


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
    #: Of a charge, its id; of a refund attempt, the charge it returns money of (None: the
    #: capture).
    charge_id: str | None = None

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
        charge_id: str | None = None,
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
            charge_id=charge_id,
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


def charged_amount(ops: Iterable[Operation]) -> int:
    """What succeeded charges took after the capture, in minor units."""
    return sum(o.amount.amount for o in _succeeded(ops, OperationKind.CHARGE))


def returned_by(ops: Iterable[Operation], refund_id: str) -> int:
    """What the succeeded attempts of one refund returned, in minor units."""
    return sum(
        o.amount.amount for o in _succeeded(ops, OperationKind.REFUND) if o.refund_id == refund_id
    )


@dataclass(frozen=True)
class Taken:
    """Money the provider took, the capture or a charge, and what is left of it to refund."""

    charge_id: str | None  # None: the capture
    reference: str  # the provider's, which its refunds name
    refundable: int  # minor units


def taken(ops: Iterable[Operation]) -> list[Taken]:
    """The capture, then each charge in the order taken, less what refunds of each returned."""
    ops = list(ops)
    returned: dict[str | None, int] = defaultdict(int)
    for o in _succeeded(ops, OperationKind.REFUND):
        returned[o.charge_id] += o.amount.amount
    return [
        Taken(o.charge_id, o.provider_reference or "", o.amount.amount - returned[o.charge_id])
        for o in ops
        if o.kind in (OperationKind.CAPTURE, OperationKind.CHARGE)
        and o.status is OperationStatus.SUCCEEDED
    ]


def refund_source(ops: Iterable[Operation]) -> Taken | None:
    """What a refund's next attempt returns money of: the first money taken with some left."""
    return next((t for t in taken(ops) if t.refundable > 0), None)


def payment_status(ops: Iterable[Operation]) -> PaymentStatus:
    """The payment's status as its ledger entries have it."""
    ops = list(ops)
    captured = captured_amount(ops) + charged_amount(ops)
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
