"""A refund the provider rejects is retried with backoff, each attempt a new provider operation.

Backoff here is 40 s doubling to at most 120 s (with jitter down to half), five
attempts; the tests move the service's clock to each attempt instead of waiting for it.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from orderly_kit.clock import ManualClock
from orderly_payment.adapters.providers import (
    ProviderResult,
    ProviderTimeoutError,
    SimulatedProvider,
    executed_totals,
)
from orderly_schemas.base import Money

if TYPE_CHECKING:  # fixture types; test modules cannot import conftest at run time
    from services.payment.tests.integration.conftest import CountingProvider, Payments


async def test_a_rejected_refund_is_not_announced_but_retried_later(
    payments: Payments, provider: CountingProvider, clock: ManualClock
) -> None:
    order_id = uuid4()
    await payments.capture(order_id, token="tok_refundfail_1")

    await payments.refund(order_id, "r1")

    assert await payments.kinds() == ["PaymentCaptured"]
    refund = await payments.refund_row("r1")
    assert (refund["status"], refund["attempts"]) == ("pending", 1)
    assert refund["failure_reason"] == "refund rejected by provider"
    assert timedelta(seconds=20) <= refund["next_attempt_at"] - clock() <= timedelta(seconds=40)
    [attempt] = await payments.attempts("r1")
    assert (attempt["attempt"], attempt["idempotency_key"], attempt["status"]) == (
        1,
        "refund:r1:1",
        "failed",
    )
    assert provider.refunds == 1


async def test_a_refund_that_keeps_failing_is_announced_after_the_last_attempt(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id, token="tok_refundfail_1")
    await payments.refund(order_id, "r1")

    await payments.retry_until_settled("r1")

    events = await payments.published()
    assert [kind for kind, _ in events] == ["PaymentCaptured", "RefundFailed"]
    body = events[-1][1]
    assert (body["refund_id"], body["attempts"], body["reason"]) == (
        "r1",
        5,
        "refund rejected by provider",
    )
    attempts = await payments.attempts("r1")
    assert [(a["idempotency_key"], a["status"]) for a in attempts] == [
        (f"refund:r1:{n}", "failed") for n in range(1, 6)
    ]
    # Each wait doubles (40, 80, then capped at 120 s), shortened by jitter to half at most.
    for n, (earlier, later) in enumerate(pairwise(attempts), start=1):
        nominal = timedelta(seconds=min(40 * 2 ** (n - 1), 120))
        assert nominal / 2 <= later["requested_at"] - earlier["answered_at"] <= nominal
    assert await payments.provider_operations(order_id) == [
        ("authorize", "succeeded", f"authorize:{order_id}"),
        ("capture", "succeeded", f"capture:{order_id}"),
        *[("refund", "failed", f"refund:r1:{n}") for n in range(1, 6)],
    ]
    assert provider.refunds == 5


async def test_a_flaky_refund_succeeds_on_the_third_attempt_and_refunds_once(
    payments: Payments,
) -> None:
    order_id = uuid4()
    await payments.capture(order_id, token="tok_refundflaky_1")
    await payments.refund(order_id, "r1")

    await payments.retry_until_settled("r1")

    events = await payments.published()
    assert [kind for kind, _ in events] == ["PaymentCaptured", "PaymentRefunded"]
    attempts = await payments.attempts("r1")
    assert [a["status"] for a in attempts] == ["failed", "failed", "succeeded"]
    refund = await payments.refund_row("r1")
    assert (refund["status"], refund["attempts"], refund["next_attempt_at"]) == (
        "succeeded",
        3,
        None,
    )
    assert refund["provider_reference"] == attempts[-1]["provider_reference"]
    assert events[-1][1]["provider_reference"] == refund["provider_reference"]
    [totals] = await executed_totals(payments.messaging.database)
    assert (totals.order_id, totals.refunds, totals.refunded_amount) == (order_id, 1, 4999)


async def test_a_redelivered_refund_changes_nothing_while_retries_are_pending(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id, token="tok_refundfail_1")
    await payments.refund(order_id, "r1")
    pending = await payments.refund_row("r1")

    for _ in range(2):
        await payments.refund(order_id, "r1")

    assert await payments.refund_row("r1") == pending
    assert len(await payments.attempts("r1")) == 1
    assert await payments.kinds() == ["PaymentCaptured"]
    assert provider.refunds == 1


async def test_a_repeated_refund_after_the_last_attempt_announces_the_failure_again(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id, token="tok_refundfail_1")
    await payments.refund(order_id, "r1")
    await payments.retry_until_settled("r1")

    await payments.refund(order_id, "r1")

    events = await payments.published()
    assert [kind for kind, _ in events] == ["PaymentCaptured", "RefundFailed", "RefundFailed"]
    assert events[1] == events[2]
    assert provider.refunds == 5


async def test_what_is_refundable_is_checked_again_before_each_retry(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id, token="tok_refundflaky_1")
    # Both ask for the whole capture; each first attempt is rejected by the provider.
    await payments.refund(order_id, "r1")
    await payments.refund(order_id, "r2")

    await payments.retry_until_settled("r1")
    await payments.retry_until_settled("r2")

    outcomes = {body["refund_id"]: (kind, body) for kind, body in (await payments.published())[1:]}
    assert sorted(kind for kind, _ in outcomes.values()) == ["PaymentRefunded", "RefundFailed"]
    [(_, failed)] = [o for o in outcomes.values() if o[0] == "RefundFailed"]
    assert failed["reason"].startswith("refund exceeds captured amount")
    [totals] = await executed_totals(payments.messaging.database)
    assert (totals.refunds, totals.refunded_amount) == (1, 4999)
    assert provider.refunds == 3


async def test_a_refund_refused_before_the_provider_is_announced_at_once(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id, token="tok_refundfail_1")

    await payments.refund(order_id, "r1", amount=5000)

    kind, body = (await payments.published())[-1]
    assert (kind, body["attempts"]) == ("RefundFailed", 1)
    assert body["reason"].startswith("refund exceeds captured amount")
    assert provider.refunds == 0


class UnansweredOnce(SimulatedProvider):
    """Executes the first refund but the answer is lost on the way back."""

    lost = False

    async def refund(
        self, *, idempotency_key: str, order_id: UUID, payment_reference: str, amount: Money
    ) -> ProviderResult:
        result = await super().refund(
            idempotency_key=idempotency_key,
            order_id=order_id,
            payment_reference=payment_reference,
            amount=amount,
        )
        if not self.lost:
            self.lost = True
            raise ProviderTimeoutError(f"refund {idempotency_key}: no answer from the provider")
        return result


async def test_an_unanswered_attempt_is_retried_under_its_own_key(payments: Payments) -> None:
    payments.use(UnansweredOnce(payments.messaging.database))
    order_id = uuid4()
    await payments.capture(order_id)
    await payments.refund(order_id, "r1")
    [unanswered] = await payments.attempts("r1")
    assert (unanswered["status"], unanswered["reason"]) == (
        "requested",
        "no answer from the provider: refund refund:r1:1: no answer from the provider",
    )

    await payments.retry_until_settled("r1")

    [attempt] = await payments.attempts("r1")
    assert (attempt["idempotency_key"], attempt["status"]) == ("refund:r1:1", "succeeded")
    assert (await payments.refund_row("r1"))["attempts"] == 2
    assert await payments.kinds() == ["PaymentCaptured", "PaymentRefunded"]
    [totals] = await executed_totals(payments.messaging.database)
    assert (totals.refunds, totals.refunded_amount) == (1, 4999)
