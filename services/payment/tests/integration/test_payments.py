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

from orderly_kit.messaging import Messaging, PoisonMessageError, UnitOfWork
from orderly_payment import use_cases
from orderly_payment.adapters.orm import (
    outbox,
    payment_operations,
    payments,
    refunds,
    sim_provider_operations,
)
from orderly_payment.adapters.providers import ProviderTimeoutError
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails
from orderly_schemas.payment import CapturePayment, RefundPayment

if TYPE_CHECKING:  # fixture types; test modules cannot import conftest at run time
    from orderly_payment.use_cases.payments import Gateway
    from services.payment.tests.integration.conftest import CountingProvider

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


async def dispatch(
    uow: UnitOfWork, command: CapturePayment | RefundPayment, gateway: Gateway
) -> None:
    if isinstance(command, CapturePayment):
        await use_cases.payments.capture_payment(uow, command, gateway=gateway)
    else:
        await use_cases.payments.refund_payment(uow, command, gateway=gateway)


async def handle(
    messaging: Messaging, command: CapturePayment | RefundPayment, gateway: Gateway
) -> None:
    async with messaging.unit_of_work() as uow:
        await dispatch(uow, command, gateway)


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


async def ledger(messaging: Messaging) -> list[dict[str, Any]]:
    """Every ledger entry, oldest first."""
    query = select(payment_operations).order_by(payment_operations.c.id)
    async with messaging.database.sessions() as s:
        return [dict(r) for r in (await s.execute(query)).mappings()]


async def test_an_approved_capture_is_recorded_and_announced(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    order_id = uuid4()

    await handle(messaging, capture(order_id), gateway)

    [payment] = await rows(messaging, payments)
    assert (payment["status"], payment["amount"], payment["currency"]) == ("captured", 4999, "EUR")
    assert payment["payment_id"].startswith("pay_")
    assert (payment["method"], payment["provider"]) == ("credit_card", "sim-card")
    assert [(e["kind"], e["status"], e["idempotency_key"]) for e in await ledger(messaging)] == [
        ("authorize", "succeeded", f"authorize:{order_id}"),
        ("capture", "succeeded", f"capture:{order_id}"),
    ]
    [(kind, body)] = await published(messaging)
    assert kind == "PaymentCaptured"
    assert body["payment_id"] == payment["payment_id"]
    assert body["amount"] == {"amount": 4999, "currency": "EUR"}
    assert body["provider_reference"] == payment["capture_reference"]


async def test_a_declined_capture_is_recorded_as_failed_with_the_reason(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    await handle(messaging, capture(uuid4(), token="tok_decline_01"), gateway)

    [payment] = await rows(messaging, payments)
    assert (payment["status"], payment["failure_reason"]) == ("failed", "card declined by issuer")
    [entry] = await ledger(messaging)
    assert (entry["kind"], entry["status"], entry["reason"]) == (
        "authorize",
        "failed",
        "card declined by issuer",
    )
    [(kind, body)] = await published(messaging)
    assert (kind, body["reason"]) == ("PaymentFailed", "card declined by issuer")


async def test_a_repeated_capture_charges_once_and_announces_the_same_payment(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    order_id = uuid4()

    for _ in range(3):
        await handle(messaging, capture(order_id), gateway)

    assert (provider.authorizations, provider.captures) == (1, 1)
    assert len(await rows(messaging, payments)) == 1
    events = await published(messaging)
    assert [kind for kind, _ in events] == ["PaymentCaptured"] * 3
    assert events[0] == events[1] == events[2]


async def test_a_repeated_declined_capture_is_not_retried_at_the_provider(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    order_id = uuid4()

    for _ in range(2):
        await handle(messaging, capture(order_id, token="tok_decline"), gateway)

    assert (provider.authorizations, provider.captures) == (1, 0)
    assert [kind for kind, _ in await published(messaging)] == ["PaymentFailed"] * 2


async def test_concurrent_captures_of_one_order_charge_once(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    order_id = uuid4()

    await asyncio.gather(*(handle(messaging, capture(order_id), gateway) for _ in range(5)))

    assert provider.captures == 1
    assert len(await rows(messaging, payments)) == 1
    executed = [o["kind"] for o in await rows(messaging, sim_provider_operations)]
    assert sorted(executed) == ["authorize", "capture"]


async def test_a_refund_of_a_captured_payment_is_recorded_and_announced(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    order_id = uuid4()
    await handle(messaging, capture(order_id), gateway)

    await handle(messaging, refund(order_id, "r1", amount=1000), gateway)

    [row] = await rows(messaging, refunds)
    [payment] = await rows(messaging, payments)
    assert (row["refund_id"], row["status"], row["amount"]) == ("r1", "succeeded", 1000)
    assert row["payment_id"] == payment["payment_id"]
    assert row["reason"] == "shipment failed"
    kind, body = (await published(messaging))[-1]
    assert kind == "PaymentRefunded"
    assert (body["refund_id"], body["amount"]["amount"]) == ("r1", 1000)
    assert body["provider_reference"] == row["provider_reference"]
    [payment] = await rows(messaging, payments)
    assert payment["status"] == "partially_refunded"


async def test_a_refund_beyond_what_is_left_of_the_capture_fails(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    order_id = uuid4()
    await handle(messaging, capture(order_id), gateway)
    await handle(messaging, refund(order_id, "r1", amount=4000), gateway)

    await handle(messaging, refund(order_id, "r2", amount=1000), gateway)

    kind, body = (await published(messaging))[-1]
    assert kind == "RefundFailed"
    assert body["refund_id"] == "r2"
    assert body["reason"].startswith("refund exceeds captured amount")
    assert provider.refunds == 1
    assert [r["refund_id"] for r in await rows(messaging, refunds)] == ["r1"]


async def test_a_repeated_refund_id_refunds_once(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    order_id = uuid4()
    await handle(messaging, capture(order_id), gateway)

    for _ in range(3):
        await handle(messaging, refund(order_id, "r1"), gateway)

    assert provider.refunds == 1
    assert len(await rows(messaging, refunds)) == 1
    events = (await published(messaging))[1:]
    assert [kind for kind, _ in events] == ["PaymentRefunded"] * 3
    assert events[0] == events[1] == events[2]


async def test_a_refund_id_of_another_order_is_poison(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    first, second = uuid4(), uuid4()
    for order_id in (first, second):
        await handle(messaging, capture(order_id), gateway)
    await handle(messaging, refund(first, "r1"), gateway)

    with pytest.raises(PoisonMessageError, match="refund_id"):
        await handle(messaging, refund(second, "r1"), gateway)


class Crash(Exception):
    """The process dies after the provider answered, before our transaction commits."""


async def handle_then_crash(
    messaging: Messaging, command: CapturePayment | RefundPayment, gateway: Gateway
) -> None:
    async with messaging.unit_of_work() as uow:
        await dispatch(uow, command, gateway)
        raise Crash


async def crash_after(
    messaging: Messaging, command: CapturePayment | RefundPayment, gateway: Gateway
) -> None:
    with pytest.raises(Crash):
        await handle_then_crash(messaging, command, gateway)


async def test_a_capture_redone_after_a_crash_charges_once(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    order_id = uuid4()
    await crash_after(messaging, capture(order_id), gateway)
    # Written ahead, the ledger still says money may have moved; nothing was announced.
    assert [(e["kind"], e["status"]) for e in await ledger(messaging)] == [
        ("authorize", "requested"),
        ("capture", "requested"),
    ]
    assert await published(messaging) == []

    await handle(messaging, capture(order_id), gateway)

    assert (provider.authorizations, provider.captures) == (2, 2)  # asked again, same keys
    executed = [
        (o["kind"], o["outcome"], o["idempotency_key"])
        for o in await rows(messaging, sim_provider_operations)
    ]
    assert executed == [
        ("authorize", "succeeded", f"authorize:{order_id}"),
        ("capture", "succeeded", f"capture:{order_id}"),
    ]
    [payment] = await rows(messaging, payments)
    [capture_op] = [
        o for o in await rows(messaging, sim_provider_operations) if o["kind"] == "capture"
    ]
    assert (payment["status"], payment["capture_reference"]) == (
        "captured",
        capture_op["reference"],
    )
    assert [(e["kind"], e["status"]) for e in await ledger(messaging)] == [
        ("authorize", "succeeded"),
        ("capture", "succeeded"),
    ]
    assert [kind for kind, _ in await published(messaging)] == ["PaymentCaptured"]


async def test_a_refund_redone_after_a_crash_refunds_once(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    order_id = uuid4()
    await handle(messaging, capture(order_id), gateway)
    await crash_after(messaging, refund(order_id, "r1"), gateway)
    assert await rows(messaging, refunds) == []

    await handle(messaging, refund(order_id, "r1"), gateway)

    assert provider.refunds == 2
    refund_operations = [
        (o["outcome"], o["idempotency_key"])
        for o in await rows(messaging, sim_provider_operations)
        if o["kind"] == "refund"
    ]
    assert refund_operations == [("succeeded", "refund:r1:1")]
    [attempt] = [e for e in await ledger(messaging) if e["kind"] == "refund"]
    assert (attempt["attempt"], attempt["status"]) == (1, "succeeded")
    [row] = await rows(messaging, refunds)
    assert (row["status"], row["attempts"]) == ("succeeded", 1)
    assert [kind for kind, _ in await published(messaging)] == [
        "PaymentCaptured",
        "PaymentRefunded",
    ]


async def test_a_capture_the_provider_does_not_answer_raises_a_transient_error(
    messaging: Messaging, provider: CountingProvider, gateway: Gateway
) -> None:
    order_id = uuid4()

    with pytest.raises(ProviderTimeoutError):
        await handle(messaging, capture(order_id, token="tok_timeout_1"), gateway)

    # The ledger keeps the unanswered request; the payment is not paid; nothing announced.
    assert [(e["kind"], e["status"]) for e in await ledger(messaging)] == [
        ("authorize", "requested")
    ]
    [payment] = await rows(messaging, payments)
    assert payment["status"] == "not_paid"
    assert await rows(messaging, sim_provider_operations) == []
    assert await published(messaging) == []
