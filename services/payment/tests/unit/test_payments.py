"""Payment decisions: what a charge or a refund may take, when a refund is retried, and the
events announced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from orderly_payment.domain.ledger import (
    Operation,
    OperationKind,
    OperationStatus,
    PaymentStatus,
    charge_key,
)
from orderly_payment.domain.payments import (
    CANCELLED_BEFORE_CAPTURE,
    NO_CAPTURED_PAYMENT,
    CardDisplay,
    Charge,
    ChargeStatus,
    Payment,
    PaymentVoid,
    Refund,
    RefundRetryPolicy,
    RefundStatus,
    charge_refusal,
    refund_refusal,
    refused_refund,
)
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails
from orderly_schemas.payment import (
    ChargeFailed,
    ChargePayment,
    PaymentCaptured,
    PaymentCharged,
    PaymentFailed,
    PaymentRefunded,
    RefundFailed,
    RefundPayment,
)

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def a_payment(status: PaymentStatus = PaymentStatus.CAPTURED, amount: int = 5000) -> Payment:
    return Payment(
        payment_id="pay_1",
        order_id=uuid4(),
        method="credit_card",
        provider="sim-card",
        display=CardDisplay(brand="visa", last4="4242", exp_month=12, exp_year=2030),
        amount=Money(amount=amount, currency="EUR"),
        status=status,
        authorization_reference="simcard_au_1",
        capture_reference="simcard_ch_1" if status is PaymentStatus.CAPTURED else None,
        failure_reason=None if status is PaymentStatus.CAPTURED else "card declined by issuer",
        created_at=AT,
        updated_at=AT,
    )


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def test_a_refund_up_to_the_rest_of_the_capture_is_allowed() -> None:
    assert (
        refund_refusal(a_payment(amount=5000), charged=0, refunded=2000, requested=eur(3000))
        is None
    )


def test_a_refund_beyond_the_rest_of_the_capture_is_refused() -> None:
    reason = refund_refusal(a_payment(amount=5000), charged=0, refunded=2000, requested=eur(3001))

    assert reason is not None
    assert reason.startswith("refund exceeds captured amount")
    assert "3000 refundable" in reason


def test_a_failed_payment_cannot_be_refunded() -> None:
    reason = refund_refusal(
        a_payment(PaymentStatus.FAILED), charged=0, refunded=0, requested=eur(1)
    )

    assert reason == NO_CAPTURED_PAYMENT


def test_a_refund_in_another_currency_is_refused() -> None:
    reason = refund_refusal(
        a_payment(), charged=0, refunded=0, requested=Money(amount=1, currency="USD")
    )

    assert reason is not None
    assert "USD" in reason


def test_a_zero_refund_is_refused() -> None:
    assert refund_refusal(a_payment(), charged=0, refunded=0, requested=eur(0)) is not None


def test_a_captured_payment_announces_payment_captured() -> None:
    event = a_payment().outcome()

    assert isinstance(event, PaymentCaptured)
    assert (event.payment_id, event.amount, event.provider_reference) == (
        "pay_1",
        eur(5000),
        "simcard_ch_1",
    )


def test_a_failed_payment_announces_its_reason() -> None:
    event = a_payment(PaymentStatus.FAILED).outcome()

    assert isinstance(event, PaymentFailed)
    assert event.reason == "card declined by issuer"


def test_a_payment_still_awaiting_its_provider_announces_nothing() -> None:
    assert a_payment(PaymentStatus.NOT_PAID).outcome() is None
    assert a_payment(PaymentStatus.AUTHORIZED).outcome() is None


def test_a_partly_refunded_payment_still_counts_as_captured() -> None:
    assert a_payment(PaymentStatus.PARTIALLY_REFUNDED).captured
    assert (
        refund_refusal(
            a_payment(PaymentStatus.PARTIALLY_REFUNDED),
            charged=0,
            refunded=1000,
            requested=eur(4000),
        )
        is None
    )


POLICY = RefundRetryPolicy(
    max_attempts=3, backoff=timedelta(seconds=10), backoff_max=timedelta(seconds=25)
)


def a_refund() -> Refund:
    return Refund.requested(
        refund_id="r1", order_id=uuid4(), payment_id="pay_1", amount=eur(500), reason="x", now=AT
    )


def rejected(refund: Refund, *, at: datetime = AT, jitter: float = 1.0) -> Refund:
    return refund.answered(
        approved=False,
        reference="sim_re_1",
        failure_reason="refund rejected by provider",
        policy=POLICY,
        jitter=jitter,
        now=at,
    )


def test_retry_waits_double_up_to_the_cap() -> None:
    waits = [POLICY.delay(n, jitter=1.0) for n in (1, 2, 3, 4)]

    assert waits == [timedelta(seconds=s) for s in (10, 20, 25, 25)]


def test_jitter_shortens_a_wait_but_never_lengthens_it() -> None:
    assert POLICY.delay(2, jitter=0.5) == timedelta(seconds=10)


def test_a_long_run_of_failures_does_not_overflow_the_wait() -> None:
    assert POLICY.delay(10_000, jitter=1.0) == timedelta(seconds=25)


def test_a_rejected_attempt_schedules_the_next_and_announces_nothing() -> None:
    refund = rejected(a_refund())

    assert (refund.status, refund.attempts) == (RefundStatus.PENDING, 1)
    assert refund.next_attempt_at == AT + timedelta(seconds=10)
    assert refund.outcome() is None


def test_the_last_rejected_attempt_fails_the_refund_with_its_reason() -> None:
    refund = a_refund()
    for _ in range(3):
        refund = rejected(refund)

    event = refund.outcome()

    assert isinstance(event, RefundFailed)
    assert (event.attempts, event.reason) == (3, "refund rejected by provider")
    assert refund.next_attempt_at is None


def test_an_approved_attempt_announces_the_refund_with_its_reference() -> None:
    refund = rejected(a_refund()).answered(
        approved=True,
        reference="sim_re_2",
        failure_reason=None,
        policy=POLICY,
        jitter=1.0,
        now=AT + timedelta(seconds=10),
    )

    event = refund.outcome()

    assert isinstance(event, PaymentRefunded)
    assert (event.provider_reference, event.occurred_at) == ("sim_re_2", AT + timedelta(seconds=10))
    assert refund.attempts == 2


def test_a_refund_refused_between_attempts_keeps_its_count() -> None:
    refund = rejected(a_refund()).refused("refund exceeds captured amount", AT)

    event = refund.outcome()

    assert isinstance(event, RefundFailed)
    assert (event.attempts, event.reason) == (1, "refund exceeds captured amount")


def test_a_void_refuses_a_later_capture() -> None:
    void = PaymentVoid(refund_id="cancel-1", order_id=uuid4(), reason="cancelled", created_at=AT)

    event = void.refused_capture(AT)

    assert (event.order_id, event.reason) == (void.order_id, CANCELLED_BEFORE_CAPTURE)
    assert (void.outcome().refund_id, void.outcome().reason) == ("cancel-1", "cancelled")


def test_a_refund_refused_before_the_provider_announces_its_reason_as_one_attempt() -> None:
    command = RefundPayment(
        order_id=uuid4(),
        occurred_at=AT,
        refund_id="ref_1",
        amount=eur(9000),
        reason="order cancelled",
    )
    payment = a_payment()
    reason = refund_refusal(payment, charged=0, refunded=0, requested=command.amount)
    assert reason is not None

    event = refused_refund(command, reason, now=AT)

    assert event == RefundFailed(
        order_id=command.order_id,
        occurred_at=AT,
        refund_id="ref_1",
        amount=command.amount,
        reason=reason,
        attempts=1,
    )


def test_a_refund_may_return_what_charges_took_too() -> None:
    payment = a_payment(amount=5000)

    allowed = refund_refusal(payment, charged=700, refunded=2000, requested=eur(3700))
    refused = refund_refusal(payment, charged=700, refunded=2000, requested=eur(3701))

    assert allowed is None
    assert refused == (
        "refund exceeds captured amount: 3701 requested, 3700 refundable (5000 captured,"
        " 700 charged, 2000 already refunded, EUR minor units)"
    )


def test_a_part_returned_leaves_the_refund_pending_and_due_at_once() -> None:
    part = a_refund().answered(
        approved=True,
        reference="sim_re_1",
        failure_reason=None,
        policy=POLICY,
        jitter=1.0,
        now=AT,
        left=200,
    )

    assert (part.status, part.next_attempt_at, part.attempts) == (RefundStatus.PENDING, AT, 1)
    assert part.failure_reason is None
    assert part.outcome() is None


def a_charge_command(amount: Money | None = None) -> ChargePayment:
    return ChargePayment(
        order_id=uuid4(),
        charge_id="exchange:rma-1",
        amount=amount or eur(700),
        payment=PaymentDetails(method="credit_card", token="tok_ok_1"),
        reason="exchange RMA-0000001: price difference",
    )


@pytest.mark.parametrize(
    "status",
    [PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED],
)
def test_a_captured_payment_may_be_charged_more(status: PaymentStatus) -> None:
    assert charge_refusal(a_payment(status), eur(700)) is None


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (PaymentStatus.FAILED, "no captured payment to charge: the order's payment is failed"),
        (PaymentStatus.VOIDED, "no captured payment to charge: the order's payment is voided"),
        (
            PaymentStatus.AUTHORIZED,
            "no captured payment to charge: the order's payment is authorized",
        ),
        (PaymentStatus.NOT_PAID, "no captured payment to charge: the order's payment is not_paid"),
    ],
)
def test_a_payment_never_captured_is_not_charged(status: PaymentStatus, reason: str) -> None:
    assert charge_refusal(a_payment(status), eur(700)) == reason


def test_an_order_without_a_payment_is_not_charged() -> None:
    assert charge_refusal(None, eur(700)) == (
        "no captured payment to charge: no payment of the order was attempted"
    )


def test_a_charge_in_another_currency_is_refused_naming_both() -> None:
    reason = charge_refusal(a_payment(), Money(amount=700, currency="USD"))

    assert reason == "charge currency USD differs from the payment's currency EUR"


def test_a_zero_charge_is_refused() -> None:
    assert charge_refusal(a_payment(), eur(0)) == "charge amount must be greater than zero (got 0)"


def a_charge_entry(status: OperationStatus, *, reason: str | None = None) -> Operation:
    return Operation(
        idempotency_key=charge_key("exchange:rma-1"),
        kind=OperationKind.CHARGE,
        order_id=uuid4(),
        payment_id="pay_1",
        provider="sim-card",
        amount=eur(700),
        status=status,
        provider_reference="simcard_sa_1",
        reason=reason,
        requested_at=AT,
        answered_at=AT,
        charge_id="exchange:rma-1",
    )


def test_a_charge_follows_its_ledger_entry_and_announces_once_decided() -> None:
    command = a_charge_command()
    charge = Charge.requested(command, payment_id="pay_1", now=AT)
    later = AT + timedelta(seconds=5)

    pending = charge.settled(a_charge_entry(OperationStatus.PENDING), later)
    charged = pending.settled(a_charge_entry(OperationStatus.SUCCEEDED), later)

    assert (pending.status, pending.outcome()) == (ChargeStatus.PENDING, None)
    assert charged.outcome() == PaymentCharged(
        order_id=command.order_id,
        occurred_at=later,
        charge_id="exchange:rma-1",
        amount=eur(700),
        provider_reference="simcard_sa_1",
    )
    # Settled again unchanged, it is the same event again.
    assert charged.settled(a_charge_entry(OperationStatus.SUCCEEDED), AT + timedelta(hours=1)) == (
        charged
    )


def test_a_declined_charge_announces_the_providers_reason() -> None:
    charge = Charge.requested(a_charge_command(), payment_id="pay_1", now=AT)

    declined = charge.settled(a_charge_entry(OperationStatus.FAILED, reason="card expired"), AT)

    event = declined.outcome()
    assert isinstance(event, ChargeFailed)
    assert (event.charge_id, event.amount, event.reason) == (
        "exchange:rma-1",
        eur(700),
        "card expired",
    )


def test_a_refused_charge_is_failed_with_the_reason_and_names_no_payment_if_none() -> None:
    command = a_charge_command()

    refused = Charge.refused(
        command, "charge amount must be greater than zero", payment=None, now=AT
    )

    assert (refused.status, refused.payment_id) == (ChargeStatus.FAILED, None)
    assert refused.outcome() == ChargeFailed(
        order_id=command.order_id,
        occurred_at=AT,
        charge_id="exchange:rma-1",
        amount=eur(700),
        reason="charge amount must be greater than zero",
    )
