"""Payment handlers against a real, migrated PostgreSQL: rows, provider calls and outbox.

The provider commits on its own, as a real one does; the crash tests roll our
transaction back after the provider answered and show that a second try executes
nothing more at the provider.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from orderly_kit.messaging import Messaging, PoisonMessageError
from orderly_payment import handlers
from orderly_payment.adapters.orm import (
    outbox,
    payments,
    refund_attempts,
    refunds,
    sim_provider_operations,
)
from orderly_payment.adapters.providers import ProviderTimeoutError
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails
from orderly_schemas.payment import CapturePayment, RefundPayment

if TYPE_CHECKING:  # fixture types; test modules cannot import conftest at run time
    from conftest import CountingProvider

TOTAL = Money(amount=4999, currency="EUR")


def capture(order_id: UUID, token: str = "tok_visa_ok") -> CapturePayment:
    return CapturePayment(
        order_id=order_id, amount=TOTAL, payment=PaymentDetails(method="credit_card", token=token)
    )


def refund(order_id: UUID, refund_id: str = "r1", amount: int = TOTAL.amount) -> RefundPayment:
    return RefundPayment(
        order_id=order_id,
        refund_id=refund_id,
        amount=Money(amount=amount, currency="EUR"),
        reason="shipment failed",
    )


async def handle(
    messaging: Messaging, command: CapturePayment | RefundPayment, provider: CountingProvider
) -> None:
    async with messaging.unit_of_work() as uow:
        if isinstance(command, CapturePayment):
            await handlers.capture_payment(uow, command, provider=provider)
        else:
            await handlers.refund_payment(uow, command, provider=provider)


async def published(messaging: Messaging) -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of every outbox row, oldest first."""
    async with messaging.database.sessions() as s:
        rows = (
            await s.execute(select(outbox.c.message_type, outbox.c.payload).order_by(outbox.c.id))
        ).all()
    return [(t, json.loads(p)) for t, p in rows]


async def rows(messaging: Messaging, table: Any) -> list[dict[str, Any]]:
    async with messaging.database.sessions() as s:
        return [dict(r) for r in (await s.execute(select(table))).mappings()]


async def test_an_approved_capture_is_recorded_and_announced(
    messaging: Messaging, provider: CountingProvider
) -> None:
    order_id = uuid4()

    await handle(messaging, capture(order_id), provider)

    [payment] = await rows(messaging, payments)
    assert (payment["status"], payment["amount"], payment["currency"]) == ("captured", 4999, "EUR")
    assert payment["payment_id"].startswith("pay_")
    assert payment["idempotency_key"] == f"capture:{order_id}"
    assert payment["token_last4"] == "a_ok"
    [(kind, body)] = await published(messaging)
    assert kind == "PaymentCaptured"
    assert body["payment_id"] == payment["payment_id"]
    assert body["amount"] == {"amount": 4999, "currency": "EUR"}
    assert body["provider_reference"] == payment["provider_reference"]


async def test_a_declined_capture_is_recorded_as_failed_with_the_reason(
    messaging: Messaging, provider: CountingProvider
) -> None:
    await handle(messaging, capture(uuid4(), token="tok_decline_01"), provider)

    [payment] = await rows(messaging, payments)
    assert (payment["status"], payment["failure_reason"]) == ("failed", "card declined by issuer")
    [(kind, body)] = await published(messaging)
    assert (kind, body["reason"]) == ("PaymentFailed", "card declined by issuer")


async def test_a_repeated_capture_charges_once_and_announces_the_same_payment(
    messaging: Messaging, provider: CountingProvider
) -> None:
    order_id = uuid4()

    for _ in range(3):
        await handle(messaging, capture(order_id), provider)

    assert provider.captures == 1
    assert len(await rows(messaging, payments)) == 1
    events = await published(messaging)
    assert [kind for kind, _ in events] == ["PaymentCaptured"] * 3
    assert events[0] == events[1] == events[2]


async def test_a_repeated_declined_capture_is_not_retried_at_the_provider(
    messaging: Messaging, provider: CountingProvider
) -> None:
    order_id = uuid4()

    for _ in range(2):
        await handle(messaging, capture(order_id, token="tok_decline"), provider)

    assert provider.captures == 1
    assert [kind for kind, _ in await published(messaging)] == ["PaymentFailed"] * 2


async def test_concurrent_captures_of_one_order_charge_once(
    messaging: Messaging, provider: CountingProvider
) -> None:
    order_id = uuid4()

    await asyncio.gather(*(handle(messaging, capture(order_id), provider) for _ in range(5)))

    assert provider.captures == 1
    assert len(await rows(messaging, payments)) == 1
    assert len(await rows(messaging, sim_provider_operations)) == 1


async def test_a_card_number_for_a_token_is_poison_and_never_echoed(
    messaging: Messaging, provider: CountingProvider
) -> None:
    card = "4111-1111-1111-1111"

    with pytest.raises(PoisonMessageError) as raised:
        await handle(messaging, capture(uuid4(), token=card), provider)

    message = str(raised.value)
    assert "payment.token" in message
    assert card not in message
    assert "4111" not in message
    assert provider.captures == 0
    assert await rows(messaging, payments) == []


async def test_a_refund_of_a_captured_payment_is_recorded_and_announced(
    messaging: Messaging, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await handle(messaging, capture(order_id), provider)

    await handle(messaging, refund(order_id, "r1", amount=1000), provider)

    [row] = await rows(messaging, refunds)
    [payment] = await rows(messaging, payments)
    assert (row["refund_id"], row["status"], row["amount"]) == ("r1", "succeeded", 1000)
    assert row["payment_id"] == payment["payment_id"]
    assert row["reason"] == "shipment failed"
    kind, body = (await published(messaging))[-1]
    assert kind == "PaymentRefunded"
    assert (body["refund_id"], body["amount"]["amount"]) == ("r1", 1000)
    assert body["provider_reference"] == row["provider_reference"]


async def test_a_refund_beyond_what_is_left_of_the_capture_fails(
    messaging: Messaging, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await handle(messaging, capture(order_id), provider)
    await handle(messaging, refund(order_id, "r1", amount=4000), provider)

    await handle(messaging, refund(order_id, "r2", amount=1000), provider)

    kind, body = (await published(messaging))[-1]
    assert kind == "RefundFailed"
    assert body["refund_id"] == "r2"
    assert body["reason"].startswith("refund exceeds captured amount")
    assert provider.refunds == 1
    assert [r["refund_id"] for r in await rows(messaging, refunds)] == ["r1"]


async def test_a_repeated_refund_id_refunds_once(
    messaging: Messaging, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await handle(messaging, capture(order_id), provider)

    for _ in range(3):
        await handle(messaging, refund(order_id, "r1"), provider)

    assert provider.refunds == 1
    assert len(await rows(messaging, refunds)) == 1
    events = (await published(messaging))[1:]
    assert [kind for kind, _ in events] == ["PaymentRefunded"] * 3
    assert events[0] == events[1] == events[2]


async def test_a_refund_id_of_another_order_is_poison(
    messaging: Messaging, provider: CountingProvider
) -> None:
    first, second = uuid4(), uuid4()
    for order_id in (first, second):
        await handle(messaging, capture(order_id), provider)
    await handle(messaging, refund(first, "r1"), provider)

    with pytest.raises(PoisonMessageError, match="refund_id"):
        await handle(messaging, refund(second, "r1"), provider)


class Crash(Exception):
    """The process dies after the provider answered, before our transaction commits."""


async def handle_then_crash(
    messaging: Messaging, command: CapturePayment | RefundPayment, provider: CountingProvider
) -> None:
    async with messaging.unit_of_work() as uow:
        if isinstance(command, CapturePayment):
            await handlers.capture_payment(uow, command, provider=provider)
        else:
            await handlers.refund_payment(uow, command, provider=provider)
        raise Crash


async def crash_after(
    messaging: Messaging, command: CapturePayment | RefundPayment, provider: CountingProvider
) -> None:
    with pytest.raises(Crash):
        await handle_then_crash(messaging, command, provider)


async def test_a_capture_redone_after_a_crash_charges_once(
    messaging: Messaging, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await crash_after(messaging, capture(order_id), provider)
    assert await rows(messaging, payments) == []

    await handle(messaging, capture(order_id), provider)

    assert provider.captures == 2
    [operation] = await rows(messaging, sim_provider_operations)
    assert (operation["kind"], operation["outcome"], operation["idempotency_key"]) == (
        "capture",
        "succeeded",
        f"capture:{order_id}",
    )
    [payment] = await rows(messaging, payments)
    assert payment["provider_reference"] == operation["reference"]
    assert [kind for kind, _ in await published(messaging)] == ["PaymentCaptured"]


async def test_a_refund_redone_after_a_crash_refunds_once(
    messaging: Messaging, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await handle(messaging, capture(order_id), provider)
    await crash_after(messaging, refund(order_id, "r1"), provider)
    assert await rows(messaging, refunds) == []

    await handle(messaging, refund(order_id, "r1"), provider)

    assert provider.refunds == 2
    refund_operations = [
        (o["outcome"], o["idempotency_key"])
        for o in await rows(messaging, sim_provider_operations)
        if o["kind"] == "refund"
    ]
    assert refund_operations == [("succeeded", "refund:r1:1")]
    [attempt] = await rows(messaging, refund_attempts)
    assert (attempt["attempt"], attempt["status"]) == (1, "succeeded")
    [row] = await rows(messaging, refunds)
    assert (row["status"], row["attempts"]) == ("succeeded", 1)
    assert [kind for kind, _ in await published(messaging)] == [
        "PaymentCaptured",
        "PaymentRefunded",
    ]


async def test_a_capture_the_provider_does_not_answer_raises_a_transient_error(
    messaging: Messaging, provider: CountingProvider
) -> None:
    order_id = uuid4()

    with pytest.raises(ProviderTimeoutError):
        await handle(messaging, capture(order_id, token="tok_timeout_1"), provider)

    assert await rows(messaging, payments) == []
    assert await rows(messaging, sim_provider_operations) == []
    assert await published(messaging) == []
