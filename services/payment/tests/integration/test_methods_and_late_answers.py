"""Each payment method through its own provider, and answers that come later by webhook.

The providers are built from settings exactly as the service builds them; the
late answer goes through ``confirm_operation``, the use case behind the providers'
webhook endpoint, once the test has moved the service's clock on to when it is due.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from orderly_kit.clock import ManualClock
from orderly_kit.messaging import Messaging
from orderly_payment import use_cases
from orderly_payment.adapters import orm
from orderly_payment.bootstrap import providers_for
from orderly_payment.domain.ledger import OperationKind
from orderly_payment.settings import PaymentSettings
from orderly_payment.use_cases.payments import Confirmation, Gateway, NoProviderError
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails, PaymentMethod
from orderly_schemas.payment import CapturePayment, RefundPayment

TOTAL = Money(amount=2500, currency="EUR")


#: How long the simulated providers take to answer by webhook, in these tests.
WEBHOOK_DELAY = timedelta(minutes=1)


def gateway(messaging: Messaging, **settings: Any) -> Gateway:
    configured = PaymentSettings(
        database_url="postgresql+psycopg://unused/x",
        sim_webhook_delay_seconds=WEBHOOK_DELAY.total_seconds(),
        **settings,
    )
    return Gateway(
        providers=providers_for(configured, database=messaging.database, clock=messaging.clock),
        database=messaging.database,
    )


async def pay(
    messaging: Messaging, gw: Gateway, order_id: UUID, method: PaymentMethod, token: str
) -> None:
    details = PaymentDetails(
        method=method, token=token, brand="visa", last4="4242", exp_month=8, exp_year=2031
    )
    async with messaging.unit_of_work() as uow:
        await use_cases.payments.capture_payment(
            uow, CapturePayment(order_id=order_id, amount=TOTAL, payment=details), gateway=gw
        )


async def cancel(messaging: Messaging, gw: Gateway, order_id: UUID) -> None:
    command = RefundPayment(order_id=order_id, refund_id="cancel-1", amount=TOTAL, reason="x")
    async with messaging.unit_of_work() as uow:
        await use_cases.payments.refund_payment(uow, command, gateway=gw)


async def confirm(messaging: Messaging, gw: Gateway, order_id: UUID, *, approved: bool) -> bool:
    """The provider's webhook, when it is due."""
    assert isinstance(messaging.clock, ManualClock)
    messaging.clock.advance(WEBHOOK_DELAY)
    payment = await row(messaging, orm.payments, order_id)
    async with messaging.unit_of_work() as uow:
        return await use_cases.payments.confirm_operation(
            uow,
            Confirmation(
                provider=payment["provider"],
                kind=OperationKind.AUTHORIZE,
                reference=payment["authorization_reference"],
                approved=approved,
                reason=None if approved else "declined after review",
            ),
            gateway=gw,
        )


async def row(messaging: Messaging, table: Any, order_id: UUID) -> dict[str, Any]:
    async with messaging.database.sessions() as s:
        query = select(table).where(table.c.order_id == order_id)
        return dict((await s.execute(query)).mappings().one())


async def ledger(messaging: Messaging, order_id: UUID) -> list[tuple[str, str]]:
    c = orm.payment_operations.c
    query = select(c.kind, c.status).where(c.order_id == order_id).order_by(c.id)
    async with messaging.database.sessions() as s:
        return [(r.kind, r.status) for r in await s.execute(query)]


async def executed(messaging: Messaging, order_id: UUID) -> list[tuple[str, str, str]]:
    c = orm.sim_provider_operations.c
    query = select(c.provider, c.kind, c.outcome).where(c.order_id == order_id).order_by(c.id)
    async with messaging.database.sessions() as s:
        return [(r.provider, r.kind, r.outcome) for r in await s.execute(query)]


async def events(messaging: Messaging, order_id: UUID) -> list[tuple[str, dict[str, Any]]]:
    c = orm.outbox.c
    query = select(c.message_type, c.payload).where(c.message_key == str(order_id)).order_by(c.id)
    async with messaging.database.sessions() as s:
        return [(t, json.loads(p)) for t, p in await s.execute(query)]


@pytest.mark.parametrize(
    ("method", "provider"),
    [
        ("credit_card", "sim-card"),
        ("debit_card", "sim-card"),
        ("mobile_wallet", "sim-wallet"),
        ("third_party", "sim-platform"),
    ],
)
async def test_each_method_is_paid_through_its_own_provider(
    messaging: Messaging, method: PaymentMethod, provider: str
) -> None:
    order_id = uuid4()

    await pay(messaging, gateway(messaging), order_id, method, "tok_ok_1")

    payment = await row(messaging, orm.payments, order_id)
    assert (payment["method"], payment["provider"], payment["status"]) == (
        method,
        provider,
        "captured",
    )
    assert (payment["brand"], payment["last4"], payment["exp_month"], payment["exp_year"]) == (
        "visa",
        "4242",
        8,
        2031,
    )
    assert await executed(messaging, order_id) == [
        (provider, "authorize", "succeeded"),
        (provider, "capture", "succeeded"),
    ]
    assert [t for t, _ in await events(messaging, order_id)] == ["PaymentCaptured"]


async def test_a_method_without_a_provider_is_refused_by_name(messaging: Messaging) -> None:
    only_cards = gateway(messaging, providers={"credit_card": "sim-card"})

    with pytest.raises(NoProviderError, match=r"payment\.method.*'mobile_wallet'"):
        await pay(messaging, only_cards, uuid4(), "mobile_wallet", "tok_ok_1")


async def test_a_webhook_approval_captures_and_announces_once(messaging: Messaging) -> None:
    gw, order_id = gateway(messaging), uuid4()
    await pay(messaging, gw, order_id, "third_party", "tok_webhook_1")
    assert await ledger(messaging, order_id) == [("authorize", "pending")]
    assert (await row(messaging, orm.payments, order_id))["status"] == "not_paid"
    assert await events(messaging, order_id) == []

    first = await confirm(messaging, gw, order_id, approved=True)
    again = await confirm(messaging, gw, order_id, approved=True)

    assert (first, again) == (True, False)
    assert await ledger(messaging, order_id) == [
        ("authorize", "succeeded"),
        ("capture", "succeeded"),
    ]
    assert (await row(messaging, orm.payments, order_id))["status"] == "captured"
    assert [t for t, _ in await events(messaging, order_id)] == ["PaymentCaptured"]


async def test_a_capture_command_repeated_while_the_answer_is_awaited_sends_nothing(
    messaging: Messaging,
) -> None:
    gw, order_id = gateway(messaging), uuid4()
    await pay(messaging, gw, order_id, "third_party", "tok_webhook_1")

    await pay(messaging, gw, order_id, "third_party", "tok_webhook_1")

    assert await executed(messaging, order_id) == [("sim-platform", "authorize", "succeeded")]
    assert await events(messaging, order_id) == []


async def test_a_webhook_decline_fails_the_payment_with_its_reason(messaging: Messaging) -> None:
    gw, order_id = gateway(messaging), uuid4()
    await pay(messaging, gw, order_id, "mobile_wallet", "tok_webhook_1")

    await confirm(messaging, gw, order_id, approved=False)

    assert await ledger(messaging, order_id) == [("authorize", "failed")]
    [(kind, body)] = await events(messaging, order_id)
    assert (kind, body["reason"]) == ("PaymentFailed", "declined after review")


async def test_a_cancel_while_the_answer_is_awaited_releases_the_hold_even_if_approved_later(
    messaging: Messaging,
) -> None:
    gw, order_id = gateway(messaging), uuid4()
    await pay(messaging, gw, order_id, "third_party", "tok_webhook_1")

    await cancel(messaging, gw, order_id)
    await confirm(messaging, gw, order_id, approved=True)

    assert await ledger(messaging, order_id) == [("authorize", "succeeded"), ("void", "succeeded")]
    assert (await row(messaging, orm.payments, order_id))["status"] == "voided"
    assert [kind for kind, _ in await executed_kinds(messaging, order_id)] == [
        "authorize",
        "void",
    ]
    assert [t for t, _ in await events(messaging, order_id)] == ["PaymentVoided"]


async def executed_kinds(messaging: Messaging, order_id: UUID) -> list[tuple[str, str]]:
    return [(kind, outcome) for _, kind, outcome in await executed(messaging, order_id)]


async def test_refunds_up_to_the_capture_make_the_payment_refunded(messaging: Messaging) -> None:
    gw, order_id = gateway(messaging), uuid4()
    await pay(messaging, gw, order_id, "debit_card", "tok_ok_1")
    statuses = []
    for refund_id, amount in (("r1", 1000), ("r2", 1500), ("r3", 1)):
        command = RefundPayment(
            order_id=order_id,
            refund_id=refund_id,
            amount=Money(amount=amount, currency="EUR"),
            reason="returned",
        )
        async with messaging.unit_of_work() as uow:
            await use_cases.payments.refund_payment(uow, command, gateway=gw)
        statuses.append((await row(messaging, orm.payments, order_id))["status"])

    assert statuses == ["partially_refunded", "refunded", "refunded"]
    kinds = [t for t, _ in await events(messaging, order_id)]
    assert kinds == ["PaymentCaptured", "PaymentRefunded", "PaymentRefunded", "RefundFailed"]
