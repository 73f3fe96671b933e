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
    Taken,
    payment_status,
    refund_source,
    refunded_amount,
    returned_by,
    taken,
)
from orderly_schemas.base import Money

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORDER = uuid4()
A, C, V, R, X = (
    OperationKind.AUTHORIZE,
    OperationKind.CAPTURE,
    OperationKind.VOID,
    OperationKind.REFUND,
    OperationKind.CHARGE,
)
OK, NO, ASKED, LATER = (
    OperationStatus.SUCCEEDED,
    OperationStatus.FAILED,
    OperationStatus.REQUESTED,
    OperationStatus.PENDING,
)


def entry(
    kind: OperationKind,
    status: OperationStatus,
    amount: int = 1000,
    n: int = 1,
    *,
    charge_id: str | None = None,
    refund_id: str = "r1",
) -> Operation:
    """A ledger entry; a charge is ``x<n>`` unless named, a refund returns money of the
    capture unless ``charge_id`` names a charge."""
    refund = kind is OperationKind.REFUND
    if kind is OperationKind.CHARGE:
        charge_id = charge_id or f"x{n}"
    return Operation(
        idempotency_key=f"{kind}:{n}",
        kind=kind,
        order_id=ORDER,
        payment_id="pay_1",
        provider="sim-card",
        amount=Money(amount=amount, currency="EUR"),
        status=status,
        provider_reference=f"ref-{kind}-{charge_id or n}",
        reason=None,
        requested_at=AT,
        answered_at=AT,
        refund_id=refund_id if refund else None,
        attempt=n if refund else None,
        charge_id=charge_id,
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
        # Charges are refundable as the capture is: refunded only once they are back too.
        ([entry(A, OK), entry(C, OK), entry(X, OK, 300)], PaymentStatus.CAPTURED),
        (
            [entry(A, OK), entry(C, OK), entry(X, OK, 300), entry(R, OK, 1000)],
            PaymentStatus.PARTIALLY_REFUNDED,
        ),
        (
            [
                entry(A, OK),
                entry(C, OK),
                entry(X, OK, 300),
                entry(R, OK, 1000),
                entry(R, OK, 300, n=2, charge_id="x1"),
            ],
            PaymentStatus.REFUNDED,
        ),
        # A payment refunded in full and then charged has money to give back again.
        (
            [entry(A, OK), entry(C, OK), entry(R, OK, 1000), entry(X, OK, 300)],
            PaymentStatus.PARTIALLY_REFUNDED,
        ),
        # A charge that failed or awaits its answer took nothing.
        (
            [entry(A, OK), entry(C, OK), entry(R, OK, 1000), entry(X, NO, 300)],
            PaymentStatus.REFUNDED,
        ),
        (
            [entry(A, OK), entry(C, OK), entry(R, OK, 1000), entry(X, LATER, 300)],
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


def test_money_taken_is_the_capture_then_each_charge_less_what_refunds_of_it_returned() -> None:
    entries = [
        entry(A, OK),
        entry(C, OK, 1000),
        entry(X, OK, 300, n=1),
        entry(X, NO, 200, n=2),
        entry(X, OK, 100, n=3),
        entry(R, OK, 1000, n=1),
        entry(R, OK, 50, n=2, charge_id="x1"),
        entry(R, NO, 250, n=3, charge_id="x1"),
    ]

    assert taken(entries) == [
        Taken(None, "ref-capture-1", 0),
        Taken("x1", "ref-charge-x1", 250),
        Taken("x3", "ref-charge-x3", 100),
    ]
    assert refund_source(entries) == Taken("x1", "ref-charge-x1", 250)


def test_nothing_is_left_to_refund_once_everything_taken_came_back() -> None:
    entries = [
        entry(C, OK, 1000),
        entry(X, OK, 300),
        entry(R, OK, 1000),
        entry(R, OK, 300, n=2, charge_id="x1"),
    ]

    assert refund_source(entries) is None


def test_a_refund_returned_what_its_succeeded_attempts_returned() -> None:
    entries = [
        entry(R, OK, 1000, n=1),
        entry(R, NO, 300, n=2, charge_id="x1"),
        entry(R, OK, 300, n=3, charge_id="x1"),
        entry(R, OK, 70, n=1, refund_id="r2"),
    ]

    assert returned_by(entries, "r1") == 1300
    assert returned_by(entries, "r2") == 70
