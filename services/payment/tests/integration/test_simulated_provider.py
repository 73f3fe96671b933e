"""The simulated provider: its test tokens, and one durable answer per idempotency key.

It keeps its own record in the payment database, committed on its own connection,
so a restarted provider (a new instance on the same database) still knows every
answer it gave.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from orderly_kit.clock import ManualClock
from orderly_kit.db import Database
from orderly_kit.messaging import Messaging
from orderly_payment.adapters.orm import sim_provider_operations, sim_provider_webhooks
from orderly_payment.adapters.providers import (
    ExecutedTotals,
    ProviderResult,
    ProviderTimeoutError,
    ResultStatus,
    SimulatedProvider,
    executed_totals,
)
from orderly_schemas.base import Money

EUR_10 = Money(amount=1000, currency="EUR")


@pytest.fixture
def database(messaging: Messaging) -> Database:
    return messaging.database


async def webhooks(database: Database) -> list[dict[str, Any]]:
    query = select(sim_provider_webhooks).order_by(sim_provider_webhooks.c.id)
    async with database.sessions() as s:
        return [dict(r) for r in (await s.execute(query)).mappings()]


async def operations(database: Database) -> list[dict[str, Any]]:
    query = select(sim_provider_operations).order_by(sim_provider_operations.c.id)
    async with database.sessions() as s:
        return [dict(r) for r in (await s.execute(query)).mappings()]


ORDER = UUID("00000000-0000-4000-8000-000000000001")


def provider(database: Database, name: str = "sim-card", **options: Any) -> SimulatedProvider:
    """A simulated provider just (re)started on the database."""
    return SimulatedProvider(database, name=name, **options)


async def authorize(
    database: Database,
    token: str = "tok_ok",
    *,
    order_id: UUID = ORDER,
    name: str = "sim-card",
    **options: Any,
) -> ProviderResult:
    return await provider(database, name, **options).authorize(
        idempotency_key=f"authorize:{order_id}", order_id=order_id, amount=EUR_10, token=token
    )


async def charge(
    database: Database,
    token: str = "tok_ok",
    *,
    order_id: UUID = ORDER,
    name: str = "sim-card",
    **options: Any,
) -> ProviderResult:
    """Authorize, then capture the authorization, as the payment service does."""
    held = await authorize(database, token, order_id=order_id, name=name)
    if not held.approved:
        return held
    return await provider(database, name, **options).capture(
        idempotency_key=f"capture:{order_id}",
        order_id=order_id,
        authorization_reference=held.reference,
        amount=EUR_10,
    )


async def refund(
    database: Database, capture: ProviderResult, key: str, *, order_id: UUID = ORDER
) -> ProviderResult:
    return await provider(database).refund(
        idempotency_key=key, order_id=order_id, payment_reference=capture.reference, amount=EUR_10
    )


async def test_an_ordinary_token_is_approved_and_recorded(database: Database) -> None:
    order_id = uuid4()

    result = await charge(database, "tok_visa_ok", order_id=order_id)

    assert (result.approved, result.failure_reason) == (True, None)
    held, taken = await operations(database)
    assert [(r["kind"], r["order_id"], r["amount"], r["outcome"]) for r in (held, taken)] == [
        ("authorize", order_id, 1000, "succeeded"),
        ("capture", order_id, 1000, "succeeded"),
    ]
    assert taken["reference"] == result.reference
    assert taken["payment_reference"] == held["reference"]


async def test_a_decline_token_is_declined_by_the_issuer(database: Database) -> None:
    result = await charge(database, "tok_decline_stolen")

    assert (result.approved, result.failure_reason) == (False, "card declined by issuer")
    [row] = await operations(database)
    assert (row["outcome"], row["failure_reason"]) == ("failed", "card declined by issuer")


async def test_the_same_key_gets_the_first_answer_even_after_a_restart(database: Database) -> None:
    order_id = uuid4()
    first = await charge(database, "tok_ok", order_id=order_id)

    again = await charge(database, "tok_decline", order_id=order_id)

    assert again == first
    assert len(await operations(database)) == 2  # one authorization, one capture


async def test_concurrent_calls_with_one_key_execute_once(database: Database) -> None:
    order_id = uuid4()

    answers = await asyncio.gather(*(authorize(database, order_id=order_id) for _ in range(5)))

    assert len(set(answers)) == 1
    assert len(await operations(database)) == 1


async def test_a_timeout_token_raises_and_records_nothing(database: Database) -> None:
    with pytest.raises(ProviderTimeoutError, match="no answer"):
        await charge(database, "tok_timeout_slow_bank")

    assert await operations(database) == []


async def test_a_refund_of_an_ordinary_capture_succeeds(database: Database) -> None:
    capture = await charge(database)

    result = await refund(database, capture, "refund:r1:1")

    assert (result.approved, result.failure_reason) == (True, None)
    assert [(r["kind"], r["outcome"]) for r in await operations(database)] == [
        ("authorize", "succeeded"),
        ("capture", "succeeded"),
        ("refund", "succeeded"),
    ]


async def test_every_refund_of_a_refundfail_capture_is_rejected(database: Database) -> None:
    capture = await charge(database, "tok_refundfail_1")

    results = [await refund(database, capture, f"refund:r1:{n}") for n in range(1, 5)]

    assert capture.approved
    assert {(r.approved, r.failure_reason) for r in results} == {
        (False, "refund rejected by provider")
    }


async def test_a_refundflaky_capture_refunds_on_the_third_attempt(database: Database) -> None:
    capture = await charge(database, "tok_refundflaky_1")

    results = [await refund(database, capture, f"refund:r1:{n}") for n in range(1, 5)]

    assert [r.approved for r in results] == [False, False, True, False]
    assert results[0].failure_reason == "refund temporarily rejected by provider"
    # The fourth asks for money the third already returned.
    assert results[3].failure_reason == "refund of 1000 exceeds what is left of the charge"


async def test_a_refund_of_an_unknown_charge_is_rejected(database: Database) -> None:
    unknown = ProviderResult(ResultStatus.APPROVED, "sim_ch_000000000000000000000000")

    result = await refund(database, unknown, "refund:r1:1")

    assert (result.approved, result.failure_reason) == (
        False,
        "no charge sim_ch_000000000000000000000000 to refund",
    )


async def test_executed_totals_count_succeeded_operations_per_order(database: Database) -> None:
    order_id, declined = uuid4(), uuid4()
    capture = await charge(database, "tok_refundflaky", order_id=order_id)
    await charge(database, "tok_decline", order_id=declined)
    for n in (1, 2, 3):
        await provider(database).refund(
            idempotency_key=f"refund:r1:{n}",
            order_id=order_id,
            payment_reference=capture.reference,
            amount=Money(amount=400, currency="EUR"),
        )

    totals = await executed_totals(database)

    assert totals == [
        ExecutedTotals(
            order_id=order_id,
            currency="EUR",
            captures=1,
            captured_amount=1000,
            refunds=1,
            refunded_amount=400,
            charges=0,
            charged_amount=0,
        )
    ]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("tok_decline_funds_1", "insufficient funds"),
        ("tok_decline_expired_1", "card expired"),
        ("tok_decline_fraud", "suspected fraud"),
        ("tok_decline_limit_9", "over the method's limit"),
    ],
)
async def test_a_decline_token_can_choose_the_reason(
    database: Database, token: str, reason: str
) -> None:
    result = await authorize(database, token, order_id=uuid4())

    assert (result.status, result.failure_reason) == (ResultStatus.DECLINED, reason)


@pytest.mark.parametrize("name", ["sim-card", "sim-wallet", "sim-platform"])
async def test_each_simulated_provider_keeps_its_own_references(
    database: Database, name: str
) -> None:
    result = await charge(database, order_id=uuid4(), name=name)

    assert result.approved
    assert result.reference.startswith(name.replace("-", "") + "_ch_")
    assert {r["provider"] for r in await operations(database)} == {name}


async def test_a_webhook_token_is_pending_until_its_webhook_is_due(
    database: Database, clock: ManualClock
) -> None:
    order_id = uuid4()
    later = timedelta(minutes=2)

    async def ask() -> ProviderResult:
        return await authorize(
            database, "tok_webhook_1", order_id=order_id, webhook_delay=later, clock=clock
        )

    first = await ask()
    clock.advance(later - timedelta(microseconds=1))
    again = await ask()
    clock.advance(timedelta(microseconds=1))
    settled = await ask()

    assert (first.status, again.status, settled.status) == (
        ResultStatus.PENDING,
        ResultStatus.PENDING,
        ResultStatus.APPROVED,
    )
    assert first.reference == again.reference == settled.reference
    [owed] = await webhooks(database)
    assert owed["payload"]["type"] == "authorization.succeeded"
    assert owed["payload"]["data"]["reference"] == first.reference
    assert owed["sent_at"] is None


async def test_a_webhook_decline_token_is_declined_by_its_webhook(database: Database) -> None:
    result = await authorize(database, "tok_webhook_decline_1", order_id=uuid4())

    assert result.status is ResultStatus.PENDING
    [owed] = await webhooks(database)
    assert owed["payload"]["type"] == "authorization.failed"
    assert owed["payload"]["data"]["reason"] == "declined by the customer's bank after review"


async def test_a_pending_authorization_cannot_be_captured_yet(database: Database) -> None:
    held = await authorize(database, "tok_webhook_1", order_id=uuid4())

    result = await provider(database).capture(
        idempotency_key="capture:x",
        order_id=ORDER,
        authorization_reference=held.reference,
        amount=EUR_10,
    )

    assert (result.approved, result.failure_reason) == (
        False,
        f"authorization {held.reference} is still under review",
    )


async def test_a_voided_authorization_cannot_be_captured(database: Database) -> None:
    held = await authorize(database, order_id=uuid4())
    void = await provider(database).void(
        idempotency_key="void:x",
        order_id=ORDER,
        authorization_reference=held.reference,
        amount=EUR_10,
    )

    capture = await provider(database).capture(
        idempotency_key="capture:x",
        order_id=ORDER,
        authorization_reference=held.reference,
        amount=EUR_10,
    )

    assert void.approved
    assert capture.failure_reason == f"authorization {held.reference} was voided"


async def test_a_captured_authorization_cannot_be_voided(database: Database) -> None:
    taken = await charge(database, order_id=uuid4())
    [held] = [r for r in await operations(database) if r["kind"] == "authorize"]

    void = await provider(database).void(
        idempotency_key="void:x",
        order_id=ORDER,
        authorization_reference=held["reference"],
        amount=EUR_10,
    )

    assert taken.approved
    assert (void.approved, void.failure_reason) == (
        False,
        f"authorization {held['reference']} was captured; refund it instead",
    )


async def test_a_hold_token_executes_the_capture_then_keeps_the_answer_back_once(
    database: Database,
) -> None:
    order_id = uuid4()
    loop = asyncio.get_running_loop()

    started = loop.time()
    first = await charge(database, "tok_hold_1", order_id=order_id, hold_seconds=0.4)
    held_for = loop.time() - started
    started = loop.time()
    again = await charge(database, "tok_hold_1", order_id=order_id, hold_seconds=0.4)

    assert held_for >= 0.4
    assert loop.time() - started < 0.4  # a repeated key is answered at once
    assert first == again
    assert [r["kind"] for r in await operations(database)] == ["authorize", "capture"]
