"""The simulated provider: its test tokens, and one durable answer per idempotency key.

It keeps its own record in the payment database, committed on its own connection,
so a restarted provider (a new instance on the same database) still knows every
answer it gave.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from orderly_kit.db import Database
from orderly_kit.messaging import Messaging
from orderly_payment.adapters.orm import sim_provider_operations
from orderly_payment.adapters.providers import (
    ExecutedTotals,
    ProviderResult,
    ProviderTimeoutError,
    SimulatedProvider,
    executed_totals,
)
from orderly_schemas.base import Money

EUR_10 = Money(amount=1000, currency="EUR")


@pytest.fixture
def database(messaging: Messaging) -> Database:
    return messaging.database


async def operations(database: Database) -> list[dict[str, Any]]:
    query = select(sim_provider_operations).order_by(sim_provider_operations.c.id)
    async with database.sessions() as s:
        return [dict(r) for r in (await s.execute(query)).mappings()]


ORDER = UUID("00000000-0000-4000-8000-000000000001")


async def charge(
    database: Database, token: str = "tok_ok", *, order_id: UUID = ORDER
) -> ProviderResult:
    """A capture for the order by a provider just (re)started on the database."""
    return await SimulatedProvider(database).capture(
        idempotency_key=f"capture:{order_id}", order_id=order_id, amount=EUR_10, token=token
    )


async def refund(
    database: Database, capture: ProviderResult, key: str, *, order_id: UUID = ORDER
) -> ProviderResult:
    return await SimulatedProvider(database).refund(
        idempotency_key=key, order_id=order_id, payment_reference=capture.reference, amount=EUR_10
    )


async def test_an_ordinary_token_is_approved_and_recorded(database: Database) -> None:
    order_id = uuid4()

    result = await charge(database, "tok_visa_ok", order_id=order_id)

    assert (result.approved, result.failure_reason) == (True, None)
    [row] = await operations(database)
    assert (row["kind"], row["order_id"], row["amount"], row["currency"]) == (
        "capture",
        order_id,
        1000,
        "EUR",
    )
    assert (row["outcome"], row["reference"]) == ("succeeded", result.reference)


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
    assert len(await operations(database)) == 1


async def test_concurrent_calls_with_one_key_execute_once(database: Database) -> None:
    order_id = uuid4()

    answers = await asyncio.gather(*(charge(database, order_id=order_id) for _ in range(5)))

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
    unknown = ProviderResult(True, "sim_ch_000000000000000000000000")

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
        await SimulatedProvider(database).refund(
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
        )
    ]
