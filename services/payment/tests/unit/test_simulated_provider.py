"""The simulated provider: its test tokens, and one answer per idempotency key."""

from __future__ import annotations

from orderly_payment.adapters.providers import SimulatedProvider
from orderly_schemas.base import Money

EUR_10 = Money(amount=1000, currency="EUR")


async def test_an_ordinary_token_is_approved() -> None:
    result = await SimulatedProvider().capture(
        idempotency_key="capture:1", amount=EUR_10, token="tok_visa_ok"
    )

    assert (result.approved, result.failure_reason) == (True, None)
    assert result.reference


async def test_a_decline_token_is_declined_by_the_issuer() -> None:
    result = await SimulatedProvider().capture(
        idempotency_key="capture:1", amount=EUR_10, token="tok_decline_stolen"
    )

    assert (result.approved, result.failure_reason) == (False, "card declined by issuer")


async def test_the_same_key_gets_the_first_answer() -> None:
    provider = SimulatedProvider()
    first = await provider.capture(idempotency_key="capture:1", amount=EUR_10, token="tok_ok")

    again = await provider.capture(idempotency_key="capture:1", amount=EUR_10, token="tok_decline")

    assert again == first


async def test_the_reference_survives_a_restart() -> None:
    first = await SimulatedProvider().capture(
        idempotency_key="capture:1", amount=EUR_10, token="tok_ok"
    )

    restarted = await SimulatedProvider().capture(
        idempotency_key="capture:1", amount=EUR_10, token="tok_ok"
    )

    assert restarted.reference == first.reference


async def test_a_refund_of_an_ordinary_capture_succeeds() -> None:
    provider = SimulatedProvider()
    capture = await provider.capture(idempotency_key="capture:1", amount=EUR_10, token="tok_ok")

    refund = await provider.refund(
        idempotency_key="refund:1", payment_reference=capture.reference, amount=EUR_10
    )

    assert (refund.approved, refund.failure_reason) == (True, None)


async def test_a_refund_of_a_refundfail_capture_is_rejected_even_after_a_restart() -> None:
    capture = await SimulatedProvider().capture(
        idempotency_key="capture:1", amount=EUR_10, token="tok_refundfail_1"
    )

    refund = await SimulatedProvider().refund(
        idempotency_key="refund:1", payment_reference=capture.reference, amount=EUR_10
    )

    assert (capture.approved, refund.approved) == (True, False)
    assert refund.failure_reason == "refund rejected by provider"
