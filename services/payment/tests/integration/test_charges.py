"""ChargePayment against a real, migrated PostgreSQL and the durable simulated provider.

A charge takes more from a captured payment's method (an exchange's price difference),
once per charge id, and is refunded like the capture: a refund of more than is left of
the capture goes on with the charge, one provider attempt each.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest
from sqlalchemy import select

from orderly_kit.clock import ManualClock
from orderly_kit.messaging import PoisonMessageError
from orderly_payment import use_cases
from orderly_payment.adapters import orm
from orderly_payment.adapters.providers import (
    WEBHOOK_DECLINED,
    ExecutedTotals,
    ProviderTimeoutError,
    executed_totals,
)
from orderly_payment.use_cases.payments import WebhookOutcome
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails
from orderly_schemas.payment import ChargePayment, RefundPayment

if TYPE_CHECKING:  # fixture types; test modules cannot import conftest at run time
    from services.payment.tests.integration.conftest import CountingProvider, Payments

CHARGE_ID = "exchange:7d0c1e0a-0000-4000-8000-000000000001"


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


async def charge_row(payments: Payments, charge_id: str = CHARGE_ID) -> dict[str, Any]:
    query = select(orm.charges).where(orm.charges.c.charge_id == charge_id)
    async with payments.messaging.database.sessions() as s:
        return dict((await s.execute(query)).mappings().one())


async def payment_row(payments: Payments) -> dict[str, Any]:
    [row] = await payments.rows(orm.payments)
    return row


async def last_event(payments: Payments) -> tuple[str, dict[str, Any]]:
    return (await payments.published())[-1]


async def test_a_charge_of_a_captured_payment_is_taken_once_and_announced(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)

    await payments.charge(order_id, CHARGE_ID, eur(700))

    row = await charge_row(payments)
    assert (row["status"], row["amount"], row["currency"]) == ("succeeded", 700, "EUR")
    assert row["reason"] == "exchange: the replacement costs more"
    assert row["payment_id"] == (await payment_row(payments))["payment_id"]
    assert (await payments.ledger(order_id))[-1] == ("charge", "succeeded", f"charge:{CHARGE_ID}")
    assert (await payments.provider_operations(order_id))[-1] == (
        "charge",
        "succeeded",
        f"charge:{CHARGE_ID}",
    )
    kind, body = await last_event(payments)
    assert kind == "PaymentCharged"
    assert (body["charge_id"], body["amount"]) == (CHARGE_ID, {"amount": 700, "currency": "EUR"})
    assert body["provider_reference"] == row["provider_reference"]
    # The payment is still captured: nothing of it came back.
    assert (await payment_row(payments))["status"] == "captured"


async def test_a_declined_token_fails_the_charge_with_the_providers_reason(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)

    await payments.charge(order_id, token="tok_decline_funds_1")

    kind, body = await last_event(payments)
    assert (kind, body["charge_id"], body["reason"]) == (
        "ChargeFailed",
        "exchange:rma-1",
        "insufficient funds",
    )
    assert (await payments.ledger(order_id))[-1] == ("charge", "failed", "charge:exchange:rma-1")
    row = await charge_row(payments, "exchange:rma-1")
    assert (row["status"], row["failure_reason"]) == ("failed", "insufficient funds")
    assert (await payment_row(payments))["status"] == "captured"


@pytest.mark.parametrize(
    ("capture_token", "reason"),
    [
        ("tok_decline_1", "no captured payment to charge: the order's payment is failed"),
        (None, "no captured payment to charge: no payment of the order was attempted"),
    ],
    ids=["declined", "never-paid"],
)
async def test_a_payment_never_captured_is_not_charged(
    payments: Payments, provider: CountingProvider, capture_token: str | None, reason: str
) -> None:
    order_id = uuid4()
    if capture_token is not None:
        await payments.capture(order_id, capture_token)

    await payments.charge(order_id)

    kind, body = await last_event(payments)
    assert (kind, body["reason"]) == ("ChargeFailed", reason)
    assert provider.charges == 0
    assert [k for k, _, _ in await payments.ledger(order_id)] == (
        ["authorize"] if capture_token else []
    )


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (
            Money(amount=700, currency="USD"),
            "charge currency USD differs from the payment's currency EUR",
        ),
        (eur(0), "charge amount must be greater than zero (got 0)"),
    ],
    ids=["another-currency", "zero"],
)
async def test_a_charge_the_payment_refuses_never_reaches_the_provider(
    payments: Payments, provider: CountingProvider, amount: Money, reason: str
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)

    await payments.charge(order_id, amount=amount)

    kind, body = await last_event(payments)
    assert (kind, body["reason"], body["amount"]) == (
        "ChargeFailed",
        reason,
        amount.model_dump(),
    )
    assert provider.charges == 0
    row = await charge_row(payments, "exchange:rma-1")
    assert (row["status"], row["failure_reason"]) == ("failed", reason)


@pytest.mark.parametrize("token", ["tok_visa_ok", "tok_decline_1"])
async def test_a_resent_charge_answers_the_same_and_asks_the_provider_once(
    payments: Payments, provider: CountingProvider, token: str
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)

    for _ in range(3):
        await payments.charge(order_id, token=token)

    assert provider.charges == 1
    answers = (await payments.published())[1:]
    assert len(answers) == 3
    assert answers[0] == answers[1] == answers[2]


async def test_a_resent_refused_charge_is_refused_the_same_even_once_it_could_be_taken(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.charge(order_id)  # before the capture: refused
    await payments.capture(order_id)

    await payments.charge(order_id)

    events = await payments.published()
    assert [kind for kind, _ in events] == ["ChargeFailed", "PaymentCaptured", "ChargeFailed"]
    assert events[0] == events[2]
    assert provider.charges == 0


async def test_concurrent_deliveries_of_one_charge_take_the_money_once(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)

    await asyncio.gather(*(payments.charge(order_id) for _ in range(5)))

    assert provider.charges == 1
    assert [k for k, _, _ in await payments.provider_operations(order_id)] == [
        "authorize",
        "capture",
        "charge",
    ]
    answers = (await payments.published())[1:]
    assert [kind for kind, _ in answers] == ["PaymentCharged"] * 5
    assert all(answer == answers[0] for answer in answers)


async def test_a_charge_id_of_another_order_is_poison(payments: Payments) -> None:
    first, second = uuid4(), uuid4()
    for order_id in (first, second):
        await payments.capture(order_id)
    await payments.charge(first)

    with pytest.raises(PoisonMessageError, match="field charge_id"):
        await payments.charge(second)


class Crash(Exception):
    """The process dies after the provider answered, before our transaction commits."""


async def handle_then_crash(payments: Payments, command: ChargePayment | RefundPayment) -> None:
    async with payments.messaging.unit_of_work() as uow:
        if isinstance(command, ChargePayment):
            await use_cases.payments.charge_payment(uow, command, gateway=payments.gateway)
        else:
            await use_cases.payments.refund_payment(uow, command, gateway=payments.gateway)
        raise Crash


async def crash_after(payments: Payments, command: ChargePayment | RefundPayment) -> None:
    with pytest.raises(Crash):
        await handle_then_crash(payments, command)


async def test_a_charge_redone_after_a_crash_takes_the_money_once(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)
    command = ChargePayment(
        order_id=order_id,
        charge_id=CHARGE_ID,
        amount=eur(700),
        payment=PaymentDetails(method="credit_card", token="tok_ok_1"),
        reason="exchange",
    )
    await crash_after(payments, command)
    # Written ahead: the charge and its entry say money may have moved; nothing announced.
    assert (await charge_row(payments))["status"] == "pending"
    assert (await payments.ledger(order_id))[-1] == ("charge", "requested", f"charge:{CHARGE_ID}")

    await payments.charge(order_id, CHARGE_ID)

    assert provider.charges == 2  # asked again, under the same key
    assert [k for k, _, _ in await payments.provider_operations(order_id)].count("charge") == 1
    assert (await charge_row(payments))["status"] == "succeeded"
    assert [kind for kind, _ in await payments.published()] == [
        "PaymentCaptured",
        "PaymentCharged",
    ]


async def test_a_charge_the_provider_does_not_answer_stays_pending_for_a_resend(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)

    with pytest.raises(ProviderTimeoutError):
        await payments.charge(order_id, CHARGE_ID, token="tok_timeout_1")

    assert (await charge_row(payments))["status"] == "pending"
    assert (await payments.ledger(order_id))[-1] == ("charge", "requested", f"charge:{CHARGE_ID}")
    assert [kind for kind, _ in await payments.published()] == ["PaymentCaptured"]


@pytest.mark.parametrize(
    ("token", "answer", "reason"),
    [
        ("tok_webhook_1", "PaymentCharged", None),
        ("tok_webhook_decline_1", "ChargeFailed", WEBHOOK_DECLINED),
    ],
    ids=["approved", "declined"],
)
async def test_a_charge_answered_later_by_webhook_is_announced_then(
    payments: Payments,
    provider: CountingProvider,
    clock: ManualClock,
    token: str,
    answer: str,
    reason: str | None,
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)
    await payments.charge(order_id, CHARGE_ID, token=token)
    assert (await charge_row(payments))["status"] == "pending"
    assert [kind for kind, _ in await payments.published()] == ["PaymentCaptured"]
    # A re-send meanwhile asks nothing more and announces nothing.
    await payments.charge(order_id, CHARGE_ID, token=token)
    assert provider.charges == 1

    clock.advance(provider.webhook_delay)
    [hook] = await payments.rows(orm.sim_provider_webhooks)
    event = provider.read_webhook(json.dumps(hook["payload"]).encode())
    async with payments.messaging.unit_of_work() as uow:
        outcome = await use_cases.payments.receive_provider_webhook(
            uow, event, provider=provider.name, gateway=payments.gateway
        )

    assert outcome is WebhookOutcome.CONFIRMED
    kind, body = await last_event(payments)
    assert (kind, body["charge_id"], body.get("reason")) == (answer, CHARGE_ID, reason)
    assert (await charge_row(payments))["status"] == (
        "succeeded" if answer == "PaymentCharged" else "failed"
    )


async def test_a_full_refund_after_a_charge_returns_the_capture_and_the_charge(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)
    await payments.charge(order_id, CHARGE_ID, eur(700))

    await payments.refund(order_id, "r1", amount=4999 + 700)

    kind, body = await last_event(payments)
    assert (kind, body["refund_id"], body["amount"]["amount"]) == ("PaymentRefunded", "r1", 5699)
    # One attempt per money taken: the capture first, then the charge, each by its reference.
    capture_ref = (await payment_row(payments))["capture_reference"]
    charge_ref = (await charge_row(payments))["provider_reference"]
    assert [
        (a["attempt"], a["amount"], a["charge_id"], a["status"])
        for a in await payments.attempts("r1")
    ] == [(1, 4999, None, "succeeded"), (2, 700, CHARGE_ID, "succeeded")]
    executed = [
        (o["payment_reference"], o["amount"])
        for o in await payments.rows(orm.sim_provider_operations)
        if o["kind"] == "refund"
    ]
    assert sorted(executed) == sorted([(capture_ref, 4999), (charge_ref, 700)])
    refund = await payments.refund_row("r1")
    assert (refund["status"], refund["attempts"]) == ("succeeded", 2)
    assert (await payment_row(payments))["status"] == "refunded"
    assert await executed_totals(payments.messaging.database) == [
        ExecutedTotals(
            order_id=order_id,
            currency="EUR",
            captures=1,
            captured_amount=4999,
            refunds=2,
            refunded_amount=5699,
            charges=1,
            charged_amount=700,
        )
    ]


async def test_a_refund_beyond_the_capture_and_the_charges_is_refused(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)
    await payments.charge(order_id, CHARGE_ID, eur(700))

    await payments.refund(order_id, "r1", amount=5700)

    kind, body = await last_event(payments)
    assert (kind, body["reason"]) == (
        "RefundFailed",
        "refund exceeds captured amount: 5700 requested, 5699 refundable (4999 captured,"
        " 700 charged, 0 already refunded, EUR minor units)",
    )
    assert provider.refunds == 0


async def test_a_charge_after_a_full_refund_may_be_refunded_in_turn(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)
    await payments.refund(order_id, "r1", amount=4999)
    assert (await payment_row(payments))["status"] == "refunded"

    await payments.charge(order_id, CHARGE_ID, eur(700))
    assert (await payment_row(payments))["status"] == "partially_refunded"
    await payments.refund(order_id, "r2", amount=700)

    assert [(a["amount"], a["charge_id"]) for a in await payments.attempts("r2")] == [
        (700, CHARGE_ID)
    ]
    assert (await payment_row(payments))["status"] == "refunded"


async def test_a_refund_of_a_charge_the_provider_rejects_is_retried_on_that_part_only(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)
    # The charge's method rejects its first two refunds (the capture's refunds do not).
    await payments.charge(order_id, CHARGE_ID, eur(700), token="tok_refundflaky_1")

    await payments.refund(order_id, "r1", amount=5699)
    assert (await payments.refund_row("r1"))["status"] == "pending"
    await payments.retry_until_settled("r1")

    assert [
        (a["attempt"], a["amount"], a["charge_id"], a["status"])
        for a in await payments.attempts("r1")
    ] == [
        (1, 4999, None, "succeeded"),
        (2, 700, CHARGE_ID, "failed"),
        (3, 700, CHARGE_ID, "failed"),
        (4, 700, CHARGE_ID, "succeeded"),
    ]
    refund = await payments.refund_row("r1")
    assert (refund["status"], refund["attempts"]) == ("succeeded", 4)
    assert [kind for kind, _ in await payments.published()][-1] == "PaymentRefunded"
    assert provider.refunds == 4


async def test_a_refund_over_a_charge_redone_after_a_crash_returns_each_part_once(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id)
    await payments.charge(order_id, CHARGE_ID, eur(700))
    await crash_after(
        payments, RefundPayment(order_id=order_id, refund_id="r1", amount=eur(5699), reason="x")
    )
    # Both parts executed at the provider; the ledger still has both as requested.
    assert [a["status"] for a in await payments.attempts("r1")] == ["requested", "requested"]

    await payments.refund(order_id, "r1", amount=5699)

    assert [(a["attempt"], a["status"]) for a in await payments.attempts("r1")] == [
        (1, "succeeded"),
        (2, "succeeded"),
    ]
    [totals] = await executed_totals(payments.messaging.database)
    assert (totals.refunds, totals.refunded_amount) == (2, 5699)
    assert (await payments.refund_row("r1"))["status"] == "succeeded"
