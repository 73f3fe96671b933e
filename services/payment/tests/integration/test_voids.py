"""A refund of an order with nothing captured voids its payment: no capture may follow.

The saga cancels an order whose capture got no answer by sending RefundPayment; a
CapturePayment that turns up afterwards (a late re-send, a dead letter replayed)
must not charge the customer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

from orderly_kit.messaging import PoisonMessageError
from orderly_payment.adapters import orm

if TYPE_CHECKING:  # fixture types; test modules cannot import conftest at run time
    from services.payment.tests.integration.conftest import CountingProvider, Payments


async def test_a_refund_before_any_capture_voids_the_order(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()

    await payments.refund(order_id, "cancel-1")

    [(kind, body)] = await payments.published()
    assert kind == "PaymentVoided"
    assert (body["order_id"], body["refund_id"], body["reason"]) == (
        str(order_id),
        "cancel-1",
        "customer cancelled",
    )
    [void] = await payments.rows(orm.payment_voids)
    assert (void["order_id"], void["refund_id"], void["reason"]) == (
        order_id,
        "cancel-1",
        "customer cancelled",
    )
    assert provider.refunds == 0
    assert await payments.provider_operations(order_id) == []


async def test_a_capture_after_a_void_is_refused_without_calling_the_provider(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.refund(order_id, "cancel-1")

    await payments.capture(order_id)

    kind, body = (await payments.published())[-1]
    assert (kind, body["reason"]) == (
        "PaymentFailed",
        "order cancelled before its payment was captured",
    )
    assert provider.captures == 0
    assert await payments.provider_operations(order_id) == []
    assert await payments.rows(orm.payments) == []


async def test_a_repeated_void_is_announced_again_and_recorded_once(payments: Payments) -> None:
    order_id = uuid4()

    for _ in range(3):
        await payments.refund(order_id, "cancel-1")

    events = await payments.published()
    assert [kind for kind, _ in events] == ["PaymentVoided"] * 3
    assert events[0] == events[1] == events[2]
    assert len(await payments.rows(orm.payment_voids)) == 1


async def test_a_refund_after_a_declined_capture_voids_and_the_decline_stands(
    payments: Payments, provider: CountingProvider
) -> None:
    order_id = uuid4()
    await payments.capture(order_id, token="tok_decline_01")

    await payments.refund(order_id, "cancel-1")
    await payments.capture(order_id, token="tok_decline_01")

    events = await payments.published()
    assert [kind for kind, _ in events] == ["PaymentFailed", "PaymentVoided", "PaymentFailed"]
    assert events[2][1]["reason"] == "card declined by issuer"
    assert (provider.authorizations, provider.captures, provider.refunds) == (1, 0, 0)


async def test_a_void_refund_id_sent_for_another_order_is_poison(payments: Payments) -> None:
    await payments.refund(uuid4(), "cancel-1")

    with pytest.raises(PoisonMessageError, match="refund_id"):
        await payments.refund(uuid4(), "cancel-1")
