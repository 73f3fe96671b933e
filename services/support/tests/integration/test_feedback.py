"""Feedback over HTTP on a real, migrated PostgreSQL: refused before delivery, given, changed
within its window, refused after it, hidden from other customers, listed for support, and
announced through the outbox without its comment."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx

from orderly_kit.clock import ManualClock

if TYPE_CHECKING:
    from services.support.tests.integration.conftest import KnownOrder, Support

MUG, TEA = "MUG-001", "TEA-002"


def rated(rating: int = 4, **more: Any) -> dict[str, Any]:
    return {"rating": rating, **more}


async def give(
    client: httpx.AsyncClient, support: Support, order: KnownOrder, body: dict[str, Any]
) -> httpx.Response:
    """PUT /orders/{number}/feedback by the order's customer."""
    return await client.put(
        f"/orders/{order.order_number}/feedback",
        json=body,
        headers=support.customer(order.customer_id),
    )


async def test_feedback_before_the_delivery_is_refused_with_a_clear_message(
    client: httpx.AsyncClient, support: Support
) -> None:
    order = await support.order_confirmed("C-ADA")

    refused = await give(client, support, order, rated())

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"order {order.order_number} has not been delivered yet; feedback can be given once it has"
    )
    assert await support.published() == []


async def test_a_customer_rates_a_delivered_order_and_support_reads_it(
    client: httpx.AsyncClient, support: Support
) -> None:
    order = await support.delivered_order("C-ADA")

    given = await give(
        client,
        support,
        order,
        rated(
            5,
            comment="lovely mugs, the tea is too weak",
            line_ratings=[{"sku": MUG, "rating": 5}, {"sku": TEA, "rating": 2}],
        ),
    )
    by_customer = await client.get(
        f"/orders/{order.order_id}/feedback", headers=support.customer("C-ADA")
    )
    by_support = await client.get(f"/orders/{order.order_number}/feedback", headers=support.agent())

    assert given.status_code == 201
    body = given.json()
    assert (body["rating"], body["comment"], body["edits"]) == (
        5,
        "lovely mugs, the tea is too weak",
        0,
    )
    assert body["given_by"] == "user-C-ADA"
    assert by_customer.json() == by_support.json() == body
    [(kind, key, payload)] = await support.published()
    assert (kind, key) == ("FeedbackGiven", str(order.order_id))
    assert (payload["rating"], payload["has_comment"], payload["edited"]) == (5, True, False)
    assert payload["line_ratings"] == [{"sku": MUG, "rating": 5}, {"sku": TEA, "rating": 2}]
    assert "weak" not in json.dumps(payload)


async def test_feedback_is_changed_within_its_window_and_stands_after_it(
    client: httpx.AsyncClient, support: Support, clock: ManualClock
) -> None:
    order = await support.delivered_order("C-ADA")
    first = await give(client, support, order, rated(2, comment="late"))

    clock.advance(timedelta(days=13))
    edited = await give(client, support, order, rated(4))
    same_again = await give(client, support, order, rated(4))
    clock.advance(timedelta(days=1, seconds=1))
    too_late = await give(client, support, order, rated(5))

    assert first.status_code == 201
    assert edited.status_code == 200
    assert (edited.json()["rating"], edited.json()["comment"], edited.json()["edits"]) == (
        4,
        None,
        1,
    )
    assert same_again.status_code == 200
    assert too_late.status_code == 409
    assert "could be changed for 14 day(s)" in too_late.json()["detail"]
    assert [(p["rating"], p["edited"]) for _, _, p in await support.published()] == [
        (2, False),
        (4, True),
    ]


async def test_another_customer_s_order_is_not_found_and_a_foreign_sku_is_named(
    client: httpx.AsyncClient, support: Support
) -> None:
    order = await support.delivered_order("C-ADA")

    by_bob = await client.put(
        f"/orders/{order.order_number}/feedback", json=rated(), headers=support.customer("C-BOB")
    )
    read_by_bob = await client.get(
        f"/orders/{order.order_number}/feedback", headers=support.customer("C-BOB")
    )
    by_support = await client.put(
        f"/orders/{order.order_number}/feedback", json=rated(), headers=support.agent()
    )
    foreign = await give(client, support, order, rated(line_ratings=[{"sku": "SOCK", "rating": 1}]))
    nothing_yet = await client.get(
        f"/orders/{order.order_number}/feedback", headers=support.agent()
    )

    assert (by_bob.status_code, read_by_bob.status_code) == (404, 404)
    assert by_support.status_code == 403
    assert foreign.status_code == 422
    [error] = foreign.json()["detail"]
    assert error["loc"] == ["body", "line_ratings", 0, "sku"]
    assert "has no line of sku 'SOCK'" in error["msg"]
    assert nothing_yet.status_code == 404


async def test_support_lists_the_unhappy_customers_page_by_page(
    client: httpx.AsyncClient, support: Support, clock: ManualClock
) -> None:
    ratings = [1, 5, 2, 3, 1]
    orders = []
    for n, rating in enumerate(ratings):
        order = await support.delivered_order(f"C-{n}")
        await give(client, support, order, rated(rating))
        orders.append(order.order_number)
        clock.advance(timedelta(hours=1))
    since = (clock() - timedelta(hours=3)).isoformat()

    pages: list[list[str]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"rating_at_most": 2, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        found = await client.get("/feedback", params=params, headers=support.agent())
        pages.append([f["order_number"] for f in found.json()["items"]])
        cursor = found.json()["next"]
        if cursor is None:
            break
    recent = await client.get("/feedback", params={"since": since}, headers=support.agent())
    by_customer = await client.get("/feedback", headers=support.customer("C-0"))

    assert pages == [[orders[4], orders[2]], [orders[0]]]
    assert [f["order_number"] for f in recent.json()["items"]] == orders[:1:-1]
    assert by_customer.status_code == 403
