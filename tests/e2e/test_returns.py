"""Returns on the whole running suite: a customer asks, the rules or support decide,
inventory books the carrier's collection, the parcel comes back by the carrier's signed
webhooks, the warehouse inspects it, and the payment service refunds what qualifies.

Each test places its own order of one SKU it alone returns, so that the stock it
checks moves only by its own return.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from orderly_dev.checkout import Checkout, make_order
from orderly_dev.eventually import eventually
from orderly_dev.returns import Returns
from orderly_dev.stack import Stack
from orderly_kit.auth import Role
from orderly_schemas.base import Money, OrderLine
from orderly_schemas.checkout import OrderPlaced

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: 15.00 a unit: two damaged units (30.00) are under the rules' threshold (50.00).
PRICE = 1500


async def a_delivered_order(stack: Stack, sku: str, quantity: int = 3) -> OrderPlaced:
    """An order of ``quantity`` units of ``sku``, placed by checkout and carried by the
    saga to its end (the stack completes a delivered order after two seconds)."""
    order = make_order(random.Random(sku), order_id=uuid4())
    order = order.model_copy(
        update={
            "lines": [
                OrderLine(
                    sku=sku, quantity=quantity, unit_price=Money(amount=PRICE, currency="EUR")
                )
            ],
            "total": Money(amount=PRICE * quantity, currency="EUR"),
        }
    )
    async with Checkout(stack.servers.kafka.bootstrap) as checkout:
        await checkout.place(order)
    await eventually(
        lambda: status_of(stack, order) == "completed",
        within=60,
        what=f"order {order.order_id} completed",
    )
    return order


def status_of(stack: Stack, order: OrderPlaced) -> str | None:
    """The order's status; None until the order service has read it from checkout's topic."""
    r = httpx.get(
        f"{stack.url('order')}/orders/{order.order_id}",
        headers=stack.headers(Role.SUPPORT),
        timeout=10,
    )
    if r.status_code == 404:
        return None
    r.raise_for_status()
    return r.json()["status"]  # type: ignore[no-any-return]


def view(stack: Stack, path: str, service: str = "order") -> Any:
    r = httpx.get(f"{stack.url(service)}{path}", headers=stack.headers(Role.SUPPORT), timeout=10)
    r.raise_for_status()
    return r.json()


def on_hand(stack: Stack, sku: str, warehouse: str) -> int:
    levels = view(stack, f"/stock/{sku}", "inventory")["warehouses"]
    return sum(level["on_hand"] for level in levels if level["warehouse"] == warehouse)


@pytest.fixture
async def returns(stack: Stack) -> AsyncIterator[Returns]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield Returns(stack, client)


def half_damaged(sku: str) -> list[dict[str, Any]]:
    return [
        {"sku": sku, "quantity": 1, "condition": "resellable"},
        {"sku": sku, "quantity": 1, "condition": "damaged"},
    ]


async def test_a_return_approved_by_rule_comes_back_is_restocked_and_refunded(
    stack: Stack, returns: Returns
) -> None:
    sku = "DEMO-0011"
    order = await a_delivered_order(stack, sku)

    asked = await returns.ask(
        order.order_id, order.customer.customer_id, [{"sku": sku, "quantity": 2}], "damaged"
    )
    arrived = await returns.reached(asked["return_id"], "arrived")
    before = on_hand(stack, sku, arrived["warehouse"])
    inspected = await returns.inspect(arrived, half_damaged(sku))
    done = await returns.reached(asked["return_id"], "completed")

    assert (asked["status"], asked["decided_by"]) == ("approved", "rule")
    assert arrived["tracking_number"]
    assert arrived["carrier"]
    assert inspected.status_code == 201, inspected.text
    # Damaged goods of a damaged-goods return are the seller's fault: both refunded, no fee.
    assert done["refunded"] == {"amount": 2 * PRICE, "currency": "EUR"}
    assert done["restocking_fee"] == {"amount": 0, "currency": "EUR"}
    assert [h["status"] for h in done["history"]] == [
        "requested",
        "approved",
        "label_issued",
        "in_transit",
        "arrived",
        "refunding",
        "completed",
    ]
    assert on_hand(stack, sku, arrived["warehouse"]) == before + 1  # the damaged one written off
    payment = view(stack, f"/payments/{order.order_id}", "payment")
    assert payment["status"] == "partially_refunded"
    assert [(r["refund_id"], r["amount"], r["status"]) for r in payment["refunds"]] == [
        (done["refund_id"], 2 * PRICE, "succeeded")
    ]
    shown = view(stack, f"/orders/{order.order_id}")["returns"]
    assert [(r["return_number"], r["status"]) for r in shown] == [
        (done["return_number"], "completed")
    ]

    async def told() -> set[str] | None:
        sent = view(stack, f"/notifications?order_id={order.order_id}", "notification")
        templates = {n["template"] for n in sent}
        wanted = {"return_requested", "return_label_issued", "return_received", "return_completed"}
        return templates if wanted <= templates else None

    await eventually(told, within=30, what="the customer told of each step of the return")


async def test_support_rejects_a_return_and_nothing_is_collected_or_refunded(
    stack: Stack, returns: Returns
) -> None:
    sku = "DEMO-0012"
    order = await a_delivered_order(stack, sku)
    asked = await returns.ask(
        order.order_id,
        order.customer.customer_id,
        [{"sku": sku, "quantity": 1}],
        "no_longer_needed",
    )

    await returns.reject(asked["return_id"], "the goods were used")
    seen = await returns.seen(asked["return_id"])

    assert asked["status"] == "requested"
    assert (seen["status"], seen["rejection_reason"]) == ("rejected", "the goods were used")
    assert (seen["tracking_number"], seen["refunded"], seen["deadline_at"]) == (None, None, None)
    assert view(stack, f"/payments/{order.order_id}", "payment")["refunds"] == []


async def test_a_change_of_mind_returned_half_damaged_is_refunded_in_part_less_the_fee(
    stack: Stack, returns: Returns
) -> None:
    sku = "DEMO-0013"
    order = await a_delivered_order(stack, sku)
    asked = await returns.ask(
        order.order_id,
        order.customer.customer_id,
        [{"sku": sku, "quantity": 2}],
        "no_longer_needed",
    )
    await returns.approve(asked["return_id"])
    arrived = await returns.reached(asked["return_id"], "arrived")
    before = on_hand(stack, sku, arrived["warehouse"])

    inspected = await returns.inspect(arrived, half_damaged(sku))
    done = await returns.reached(asked["return_id"], "completed")

    assert inspected.status_code == 201, inspected.text
    # One unit qualifies (the customer damaged the other), less the 10 % restocking fee.
    assert done["refunded"] == {"amount": PRICE - PRICE // 10, "currency": "EUR"}
    assert done["restocking_fee"] == {"amount": PRICE // 10, "currency": "EUR"}
    assert on_hand(stack, sku, arrived["warehouse"]) == before + 1
    payment = view(stack, f"/payments/{order.order_id}", "payment")
    assert [r["amount"] for r in payment["refunds"]] == [PRICE - PRICE // 10]


def units_on_hand(stack: Stack, sku: str) -> int:
    return sum(
        level["on_hand"] for level in view(stack, f"/stock/{sku}", "inventory")["warehouses"]
    )


async def test_an_exchange_ships_its_replacement_once_the_goods_are_received(
    stack: Stack, returns: Returns
) -> None:
    sku, other = "DEMO-0014", "DEMO-0015"
    order = await a_delivered_order(stack, sku)
    asked = await returns.ask(
        order.order_id,
        order.customer.customer_id,
        [{"sku": sku, "quantity": 1}],
        "damaged",
        replacement=[
            {"sku": other, "quantity": 1, "unit_price": {"amount": PRICE, "currency": "EUR"}}
        ],
        by_support=True,
    )
    arrived = await returns.reached(asked["return_id"], "arrived")
    before = units_on_hand(stack, other)

    inspected = await returns.inspect(
        arrived, [{"sku": sku, "quantity": 1, "condition": "damaged"}]
    )
    done = await returns.reached(asked["return_id"], "completed")

    assert (asked["status"], asked["decided_by"]) == ("approved", "rule")
    assert inspected.status_code == 201, inspected.text
    assert (done["resolution"], done["replacement_state"]) == ("exchange", "shipped")
    assert done["replacement_tracking"]
    assert done["refunded"] == {"amount": 0, "currency": "EUR"}
    assert done["charged"] is None
    assert units_on_hand(stack, other) == before - 1  # the replacement left the shelf
    assert view(stack, f"/payments/{order.order_id}", "payment")["refunds"] == []
    assert "replacing" in [h["status"] for h in done["history"]]


async def test_an_exchange_for_a_dearer_item_charges_the_difference(
    stack: Stack, returns: Returns
) -> None:
    sku, dearer = "DEMO-0016", "DEMO-0020"
    order = await a_delivered_order(stack, sku)
    asked = await returns.ask(
        order.order_id,
        order.customer.customer_id,
        [{"sku": sku, "quantity": 1}],
        "no_longer_needed",
        replacement=[
            {"sku": dearer, "quantity": 1, "unit_price": {"amount": PRICE + 500, "currency": "EUR"}}
        ],
        by_support=True,
    )
    await returns.approve(asked["return_id"])
    arrived = await returns.reached(asked["return_id"], "arrived")

    await returns.inspect(arrived, [{"sku": sku, "quantity": 1, "condition": "resellable"}])
    done = await returns.reached(asked["return_id"], "completed")
    payment = view(stack, f"/payments/{order.order_id}", "payment")

    assert done["charged"] == {"amount": 500, "currency": "EUR"}
    assert done["restocking_fee"] == {"amount": 0, "currency": "EUR"}  # none on an exchange
    assert done["refunded"] == {"amount": 0, "currency": "EUR"}
    assert [(c["charge_id"], c["amount"]) for c in payment["charges"]] == [
        (f"exchange:{asked['return_id']}", 500)
    ]


async def test_an_exchange_for_goods_out_of_stock_is_refunded_instead(
    stack: Stack, returns: Returns
) -> None:
    sku = "DEMO-0010"
    order = await a_delivered_order(stack, sku)
    asked = await returns.ask(
        order.order_id,
        order.customer.customer_id,
        [{"sku": sku, "quantity": 1}],
        "no_longer_needed",
        replacement=[
            {
                "sku": "DEMO-SOLDOUT",
                "quantity": 1,
                "unit_price": {"amount": PRICE, "currency": "EUR"},
            }
        ],
        by_support=True,
    )
    await returns.approve(asked["return_id"])
    arrived = await returns.reached(asked["return_id"], "arrived")

    await returns.inspect(arrived, [{"sku": sku, "quantity": 1, "condition": "resellable"}])
    done = await returns.reached(asked["return_id"], "completed")

    assert (done["resolution"], done["replacement_state"]) == ("refund", "unavailable")
    # The customer wanted goods we cannot send: the whole price back, no restocking fee.
    assert done["refunded"] == {"amount": PRICE, "currency": "EUR"}
    assert done["restocking_fee"] == {"amount": 0, "currency": "EUR"}

    async def told() -> bool:
        sent = view(stack, f"/notifications?order_id={order.order_id}", "notification")
        return "return_replacement_unavailable" in {n["template"] for n in sent}

    await eventually(told, within=30, what="the customer told the exchange became a refund")
