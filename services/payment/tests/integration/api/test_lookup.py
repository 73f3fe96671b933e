"""GET /payments/{order_id}: the payment, its amounts, its refunds and its whole ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import uuid4

import httpx
import pytest

from orderly_payment.adapters.providers import DECLINE_REASONS, ProviderTimeoutError

if TYPE_CHECKING:  # fixture types; test modules cannot import conftest at run time
    from services.payment.tests.integration.api.conftest import Shop


async def test_a_payment_is_shown_with_its_refunds_and_every_ledger_entry(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    order_id = await shop.pay(
        2500, method="debit_card", brand="visa", last4="4242", exp_month=12, exp_year=2030
    )
    await shop.saga_refund(order_id, 1000)
    by_hand = await client.post(
        f"/payments/{order_id}/refunds",
        json={"amount": 500, "currency": "EUR", "reason": "late"},
        headers={"Idempotency-Key": "k1"},
    )
    assert by_hand.status_code == 201, by_hand.text

    response = await client.get(f"/payments/{order_id}")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("order_id", "method", "provider", "status")} == {
        "order_id": str(order_id),
        "method": "debit_card",
        "provider": "sim-card",
        "status": "partially_refunded",
    }
    assert (body["brand"], body["last4"], body["exp_month"], body["exp_year"]) == (
        "visa",
        "4242",
        12,
        2030,
    )
    assert {
        k: body[k]
        for k in (
            "amount",
            "currency",
            "captured_amount",
            "refunded_amount",
            "refundable_amount",
            "pending_refund_amount",
            "failure_reason",
        )
    } == {
        "amount": 2500,
        "currency": "EUR",
        "captured_amount": 2500,
        "refunded_amount": 1500,
        "refundable_amount": 1000,
        "pending_refund_amount": 0,
        "failure_reason": None,
    }
    assert [
        (r["refund_id"], r["amount"], r["status"], r["requested_by"], r["reason"])
        for r in body["refunds"]
    ] == [
        (f"{order_id}:r1", 1000, "succeeded", None, "customer cancelled"),
        ("manual:k1", 500, "succeeded", "fin.anna", "late"),
    ]
    ledger = body["ledger"]
    assert [(e["kind"], e["idempotency_key"], e["status"], e["amount"]) for e in ledger] == [
        ("authorize", f"authorize:{order_id}", "succeeded", 2500),
        ("capture", f"capture:{order_id}", "succeeded", 2500),
        ("refund", f"refund:{order_id}:r1:1", "succeeded", 1000),
        ("refund", "refund:manual:k1:1", "succeeded", 500),
    ]
    assert all(e["answered_at"] and e["provider_reference"] for e in ledger)
    assert body["authorization_reference"] == ledger[0]["provider_reference"]
    assert body["capture_reference"] == ledger[1]["provider_reference"]
    assert [(e["refund_id"], e["attempt"]) for e in ledger[2:]] == [
        (f"{order_id}:r1", 1),
        ("manual:k1", 1),
    ]


async def test_a_charged_payment_shows_its_charges_and_refunds_them_too(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    order_id = await shop.pay(2500)
    await shop.charge(order_id, 700, "x1")
    await shop.charge(order_id, 300, "x2")
    await shop.saga_refund(order_id, 2800)

    body = (await client.get(f"/payments/{order_id}")).json()

    assert {
        k: body[k]
        for k in (
            "status",
            "amount",
            "captured_amount",
            "charged_amount",
            "refunded_amount",
            "refundable_amount",
        )
    } == {
        "status": "partially_refunded",
        "amount": 2500,
        "captured_amount": 2500,
        "charged_amount": 1000,
        "refunded_amount": 2800,
        "refundable_amount": 700,
    }
    assert [(c["charge_id"], c["amount"], c["status"], c["reason"]) for c in body["charges"]] == [
        (f"{order_id}:x1", 700, "succeeded", "exchange"),
        (f"{order_id}:x2", 300, "succeeded", "exchange"),
    ]
    assert all(c["provider_reference"] for c in body["charges"])
    # The refund took what was left of the capture, then of the first charge.
    assert [
        (e["kind"], e["idempotency_key"], e["amount"], e["charge_id"])
        for e in body["ledger"]
        if e["kind"] in ("charge", "refund")
    ] == [
        ("charge", f"charge:{order_id}:x1", 700, f"{order_id}:x1"),
        ("charge", f"charge:{order_id}:x2", 300, f"{order_id}:x2"),
        ("refund", f"refund:{order_id}:r1:1", 2500, None),
        ("refund", f"refund:{order_id}:r1:2", 300, f"{order_id}:x1"),
    ]


async def test_a_declined_payment_shows_why_and_nothing_to_refund(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    order_id = await shop.pay(1200, token="tok_decline_funds_1")

    body = (await client.get(f"/payments/{order_id}")).json()

    assert (body["status"], body["failure_reason"]) == ("failed", DECLINE_REASONS["funds"])
    assert (body["captured_amount"], body["refundable_amount"]) == (0, 0)
    assert [(e["kind"], e["status"], e["reason"]) for e in body["ledger"]] == [
        ("authorize", "failed", DECLINE_REASONS["funds"]),
    ]


async def test_a_payment_voided_before_any_answer_shows_voided(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    order_id = uuid4()
    with pytest.raises(ProviderTimeoutError):
        await shop.pay(900, token="tok_timeout_1", order_id=order_id)
    await shop.saga_refund(order_id, 900)  # the saga gave up: nothing captured, so a void

    body = (await client.get(f"/payments/{order_id}")).json()

    assert (body["status"], body["captured_amount"], body["refunds"]) == ("voided", 0, [])
    assert [(e["kind"], e["status"]) for e in body["ledger"]] == [("authorize", "requested")]


async def test_the_status_shown_is_the_ledgers_even_if_the_stored_one_drifted(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    order_id = await shop.pay(800)
    await shop.sql("UPDATE payments SET status = 'authorized' WHERE order_id = :id", id=order_id)

    body = (await client.get(f"/payments/{order_id}")).json()

    assert body["status"] == "captured"


async def test_an_order_without_a_payment_is_not_found(client: httpx.AsyncClient) -> None:
    order_id = uuid4()

    response = await client.get(f"/payments/{order_id}")

    assert response.status_code == 404
    assert response.json()["detail"] == f"no payment for order {order_id} has been attempted"


async def test_an_order_id_that_is_not_a_uuid_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.get("/payments/ORD-0000001")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "order_id"]
