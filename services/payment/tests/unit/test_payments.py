"""Payment decisions: what a refund may take, and the events an outcome announces."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from orderly_payment.domain.payments import (
    NO_CAPTURED_PAYMENT,
    Payment,
    PaymentStatus,
    last4,
    refund_refusal,
)
from orderly_schemas.base import Money
from orderly_schemas.payment import PaymentCaptured, PaymentFailed

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def a_payment(status: PaymentStatus = PaymentStatus.CAPTURED, amount: int = 5000) -> Payment:
    return Payment(
        payment_id="pay_1",
        order_id=uuid4(),
        method="credit_card",
        token_last4="k_ok",
        amount=Money(amount=amount, currency="EUR"),
        status=status,
        provider_reference="sim_ch_1",
        failure_reason=None if status is PaymentStatus.CAPTURED else "card declined by issuer",
        idempotency_key="capture:1",
        created_at=AT,
    )


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def test_a_refund_up_to_the_rest_of_the_capture_is_allowed() -> None:
    assert refund_refusal(a_payment(amount=5000), refunded=2000, requested=eur(3000)) is None


def test_a_refund_beyond_the_rest_of_the_capture_is_refused() -> None:
    reason = refund_refusal(a_payment(amount=5000), refunded=2000, requested=eur(3001))

    assert reason is not None
    assert reason.startswith("refund exceeds captured amount")
    assert "3000 refundable" in reason


def test_a_failed_payment_cannot_be_refunded() -> None:
    reason = refund_refusal(a_payment(PaymentStatus.FAILED), refunded=0, requested=eur(1))

    assert reason == NO_CAPTURED_PAYMENT


def test_a_refund_in_another_currency_is_refused() -> None:
    reason = refund_refusal(a_payment(), refunded=0, requested=Money(amount=1, currency="USD"))

    assert reason is not None
    assert "USD" in reason


def test_a_zero_refund_is_refused() -> None:
    assert refund_refusal(a_payment(), refunded=0, requested=eur(0)) is not None


def test_a_captured_payment_announces_payment_captured() -> None:
    event = a_payment().outcome()

    assert isinstance(event, PaymentCaptured)
    assert (event.payment_id, event.amount, event.occurred_at) == ("pay_1", eur(5000), AT)


def test_a_failed_payment_announces_its_reason() -> None:
    event = a_payment(PaymentStatus.FAILED).outcome()

    assert isinstance(event, PaymentFailed)
    assert event.reason == "card declined by issuer"


def test_only_the_end_of_a_token_is_kept() -> None:
    assert (last4("tok_visa_ok"), last4("tok")) == ("a_ok", None)
