"""Claims on the whole running suite: a parcel lost in transit leaves its order needing
attention; support settles it with a refund, or with a reshipment that inventory sends as
a replacement shipment, tracked by the carrier's signed webhooks like any parcel.

The simulated carrier loses every parcel to postal code 00001, and only an order's own
parcels to 00002 (a replacement to it arrives).
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from orderly_dev.checkout import Checkout, make_order
from orderly_dev.eventually import eventually
from orderly_dev.returns import Claims
from orderly_dev.stack import Stack
from orderly_kit.auth import Role
from orderly_schemas.base import Money, OrderLine
from orderly_schemas.checkout import OrderPlaced

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PRICE = 1500


def view(stack: Stack, path: str, service: str = "order") -> Any:
    r = httpx.get(f"{stack.url(service)}{path}", headers=stack.headers(Role.SUPPORT), timeout=10)
    r.raise_for_status()
    return r.json()


def status_of(stack: Stack, order: OrderPlaced) -> str | None:
    r = httpx.get(
        f"{stack.url('order')}/orders/{order.order_id}",
        headers=stack.headers(Role.SUPPORT),
        timeout=10,
    )
    if r.status_code == 404:
        return None  # not read from checkout's topic yet
    r.raise_for_status()
    return r.json()["status"]  # type: ignore[no-any-return]


def on_hand(stack: Stack, sku: str) -> int:
    return sum(
        level["on_hand"] for level in view(stack, f"/stock/{sku}", "inventory")["warehouses"]
    )


async def a_lost_order(stack: Stack, sku: str, postal_code: str) -> OrderPlaced:
    """An order of two units of ``sku`` to ``postal_code``, whose parcel the carrier loses:
    it waits for support, needing attention."""
    order = make_order(random.Random(sku), order_id=uuid4(), postal_code=postal_code)
    order = order.model_copy(
        update={
            "lines": [
                OrderLine(sku=sku, quantity=2, unit_price=Money(amount=PRICE, currency="EUR"))
            ],
            "total": Money(amount=2 * PRICE, currency="EUR"),
        }
    )
    async with Checkout(stack.servers.kafka.bootstrap) as checkout:
        await checkout.place(order)
    await eventually(
        lambda: status_of(stack, order) == "needs_attention",
        within=90,
        what=f"order {order.order_id} needing attention",
    )
    return order


@pytest.fixture
async def claims(stack: Stack) -> AsyncIterator[Claims]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield Claims(stack, client)


async def told(stack: Stack, order: OrderPlaced, *wanted: str) -> None:
    async def sent() -> set[str] | None:
        found = view(stack, f"/notifications?order_id={order.order_id}", "notification")
        templates = {n["template"] for n in found}
        return templates if set(wanted) <= templates else None

    await eventually(sent, within=30, what=f"the customer told {', '.join(wanted)}")


async def test_a_parcel_lost_in_transit_is_refunded_in_full_by_a_claim(
    stack: Stack, claims: Claims
) -> None:
    order = await a_lost_order(stack, "DEMO-0017", "00001")

    opened = await claims.open(order.order_id, "refund")
    settled = await claims.reached(opened["claim_id"], "refunded")
    seen = view(stack, f"/orders/{order.order_id}")
    payment = view(stack, f"/payments/{order.order_id}", "payment")

    assert (opened["claim_number"][:4], opened["kind"]) == ("CLM-", "lost")
    assert settled["resolution"] == "refund"
    assert seen["status"] == "cancelled"
    assert [c["status"] for c in seen["claims"]] == ["refunded"]
    assert payment["status"] == "refunded"
    assert [(r["refund_id"], r["amount"], r["status"]) for r in payment["refunds"]] == [
        (f"claim:{opened['claim_id']}", 2 * PRICE, "succeeded")
    ]
    await told(stack, order, "order_claimed", "order_cancelled")


async def test_a_lost_parcel_is_reshipped_from_stock_and_the_order_completes(
    stack: Stack, claims: Claims
) -> None:
    sku = "DEMO-0018"
    order = await a_lost_order(stack, sku, "00002")
    before = on_hand(stack, sku)

    opened = await claims.open(order.order_id, "reshipment")
    case = httpx.post(
        f"{stack.url('support')}/cases",
        json={
            "category": "delivery",
            "subject": "My parcel never came",
            "message": "The tracking says it failed.",
            "order": str(order.order_id),
            "claim_id": opened["claim_id"],
        },
        headers=stack.headers(Role.CUSTOMER, customer_id=order.customer.customer_id),
        timeout=10,
    )
    delivered = await claims.reached(opened["claim_id"], "delivered", within=90)
    await eventually(
        lambda: status_of(stack, order) == "completed", within=60, what="order completed"
    )
    seen = view(stack, f"/orders/{order.order_id}")
    payment = view(stack, f"/payments/{order.order_id}", "payment")

    assert delivered["replacement_id"] == opened["replacement_id"]
    statuses = [h["status"] for h in seen["status_history"]]
    assert statuses[-5:] == ["needs_attention", "reshipping", "shipped", "delivered", "completed"]
    assert on_hand(stack, sku) == before - 2  # the same goods again, from stock
    assert payment["status"] == "captured"  # no new payment, nothing refunded
    assert payment["refunds"] == []
    assert case.status_code == 201, case.text
    await told(stack, order, "order_claimed", "order_reshipped", "order_completed", "case_opened")
    timeline = view(stack, f"/orders/{order.order_id}/timeline")
    parcels = {e["ref"] for e in timeline["entries"] if e["source"] == "parcel"}
    assert timeline["unavailable"] == {}
    assert {"order", "claim", "parcel", "payment", "notification", "case"} <= {
        e["source"] for e in timeline["entries"]
    }
    assert len(parcels) == 2  # the lost parcel and its replacement, each tracked
    assert order.customer.name not in json.dumps(timeline)


async def test_a_reshipment_lost_too_needs_attention_and_a_second_claim_refunds(
    stack: Stack, claims: Claims
) -> None:
    order = await a_lost_order(stack, "DEMO-0019", "00001")

    first = await claims.open(order.order_id, "reshipment")
    await claims.reached(first["claim_id"], "needs_attention", within=90)
    second = await claims.open(order.order_id, "refund")
    await claims.reached(second["claim_id"], "refunded")
    superseded = await claims.seen(first["claim_id"])

    assert superseded["status"] == "superseded"
    assert status_of(stack, order) == "cancelled"
    refunds = view(stack, f"/payments/{order.order_id}", "payment")["refunds"]
    assert [r["amount"] for r in refunds] == [2 * PRICE]
