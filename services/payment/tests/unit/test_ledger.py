"""An order's payment status follows from its ledger entries."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from orderly_payment.domain.ledger import (
    Operation,
    OperationKind,
    OperationStatus,
    PaymentStatus,
    payment_status,
    refunded_amount,
)
from orderly_schemas.base import Money

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORDER = uuid4()
A, C, V, R = (
    OperationKind.AUTHORIZE,
    OperationKind.CAPTURE,
    OperationKind.VOID,
    OperationKind.REFUND,
)
OK, NO, ASKED, LATER = (
    OperationStatus.SUCCEEDED,
    OperationStatus.FAILED,
    OperationStatus.REQUESTED,
    OperationStatus.PENDING,
)


def entry(
    kind: OperationKind, status: OperationStatus, amount: int = 1000, n: int = 1
) -> Operation:
    refund = kind is OperationKind.REFUND
    return Operation(
        idempotency_key=f"{kind}:{n}",
        kind=kind,
        order_id=ORDER,
        payment_id="pay_1",
        provider="sim-card",
        amount=Money(amount=amount, currency="EUR"),
        status=status,
        provider_reference=None,
        reason=None,
        requested_at=AT,
        answered_at=AT,
        refund_id="r1" if refund else None,
        attempt=n if refund else None,
    )


@pytest.mark.parametrize(
    ("entries", "status"),
    [
        ([], PaymentStatus.NOT_PAID),
        ([entry(A, ASKED)], PaymentStatus.NOT_PAID),
        ([entry(A, LATER)], PaymentStatus.NOT_PAID),
        ([entry(A, NO)], PaymentStatus.FAILED),
        ([entry(A, OK)], PaymentStatus.AUTHORIZED),
        ([entry(A, OK), entry(C, ASKED)], PaymentStatus.AUTHORIZED),
        ([entry(A, OK), entry(C, OK)], PaymentStatus.CAPTURED),
        ([entry(A, OK), entry(C, NO), entry(V, OK)], PaymentStatus.FAILED),
        ([entry(A, OK), entry(V, OK)], PaymentStatus.VOIDED),
        ([entry(A, OK), entry(C, OK), entry(R, NO, 400)], PaymentStatus.CAPTURED),
        ([entry(A, OK), entry(C, OK), entry(R, OK, 400)], PaymentStatus.PARTIALLY_REFUNDED),
        (
            [entry(A, OK), entry(C, OK), entry(R, OK, 400), entry(R, OK, 600, n=2)],
            PaymentStatus.REFUNDED,
        ),
    ],
)
def test_the_status_follows_from_the_entries(
    entries: list[Operation], status: PaymentStatus
) -> None:
    assert payment_status(entries) is status


def test_only_succeeded_refunds_count_as_refunded() -> None:
    entries = [entry(R, OK, 400), entry(R, NO, 300, n=2), entry(R, ASKED, 200, n=3)]

    assert refunded_amount(entries) == 400


def test_an_answer_records_the_reference_and_a_refusal_its_reason() -> None:
    asked = entry(C, ASKED)

    done = asked.answered(approved=True, reference="ch_1", reason=None, now=AT)
    refused = asked.answered(approved=False, reference="ch_2", reason="expired", now=AT)

    assert (done.status, done.provider_reference, done.reason) == (OK, "ch_1", None)
    assert (refused.status, refused.reason) == (NO, "expired")
