"""Stock-takes through the warehouse staff's HTTP API, over a real database.

Open a count, record counts (several counters, recounts), review the variance,
approve: the differences become adjustment movements and StockAdjusted events.
Stock that moves while the warehouse counts is not taken for a variance. The
fixture checks after each test that the levels still agree with the ledger.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import httpx
from sqlalchemy import select

from orderly_inventory.adapters import orm

if TYPE_CHECKING:  # fixtures' types; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory, Staff


async def open_count(
    client: httpx.AsyncClient, warehouse: str = "east", skus: list[str] | None = None
) -> dict[str, Any]:
    """A stock-take opened by the client's caller (wes)."""
    body: dict[str, Any] = {"warehouse": warehouse}
    if skus is not None:
        body["skus"] = skus
    response = await client.post("/stock-takes", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def count(
    client: httpx.AsyncClient,
    stock_take: dict[str, Any],
    sku: str,
    quantity: int,
    by: dict[str, str],
) -> dict[str, Any]:
    """A count of ``sku`` by the counter whose headers are ``by``."""
    response = await client.post(
        f"/stock-takes/{stock_take['id']}/counts",
        json={"sku": sku, "quantity": quantity},
        headers=by,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def approve(
    client: httpx.AsyncClient,
    stock_take: dict[str, Any],
    by: dict[str, str] | None = None,
    **body: str,
) -> httpx.Response:
    """The approval, by the client's caller (wes) unless ``by`` gives another's headers."""
    return await client.post(f"/stock-takes/{stock_take['id']}/approve", json=body, headers=by)


async def adjustments(inventory: Inventory) -> list[tuple[str, str, int, int, str, str, str]]:
    """(sku, warehouse, on hand delta, quantity, reason, reference, actor) of adjustments."""
    c = orm.stock_movements.c
    query = (
        select(c.sku, c.warehouse, c.on_hand_delta, c.quantity, c.reason, c.reference, c.actor)
        .where(c.kind == "adjustment")
        .order_by(c.id)
    )
    async with inventory.service.database.sessions() as s:
        return [tuple(r) for r in await s.execute(query)]


async def stock_adjusted(inventory: Inventory) -> list[tuple[str | None, dict[str, Any]]]:
    """(key, body) of every StockAdjusted in the outbox, oldest first."""
    c = orm.outbox.c
    query = select(c.message_key, c.payload).where(c.message_type == "StockAdjusted").order_by(c.id)
    async with inventory.service.database.sessions() as s:
        return [(key, json.loads(payload)) for key, payload in await s.execute(query)]


def lines_of(stock_take: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """sku → (on hand at open, expected, counted, variance, counters agree, adjustment)."""
    return {
        line["sku"]: (
            line["on_hand_at_open"],
            line["expected"],
            line["counted"],
            line["variance"],
            line["counters_agree"],
            line["adjustment"],
        )
        for line in stock_take["lines"]
    }


async def test_a_stock_take_from_opening_to_approval(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", east=10, west=4)
    await inventory.stock("CAP", east=5)
    await inventory.stock("TEE", east=3)

    opened = await open_count(client)  # every SKU east holds
    assert (opened["status"], opened["scope"], opened["opened_by"]) == ("open", "all", "wes")
    assert lines_of(opened) == {
        "CAP": (5, 5, None, None, True, None),
        "MUG": (10, 10, None, None, True, None),
        "TEE": (3, 3, None, None, True, None),
    }

    await count(client, opened, "MUG", 8, by=staff("ann"))
    await count(client, opened, "MUG", 8, by=staff("bob"))
    await count(client, opened, "CAP", 6, by=staff("ann"))
    disputed = await count(client, opened, "CAP", 7, by=staff("bob"))
    assert (disputed["counted"], disputed["variance"], disputed["counters_agree"]) == (7, 2, False)
    recounted = await count(
        client, opened, "CAP", 7, by=staff("ann")
    )  # ann recounts: now they agree
    await count(client, opened, "TEE", 3, by=staff("bob"))

    assert (recounted["counted"], recounted["variance"]) == (7, 2)
    assert recounted["counters_agree"] is True
    assert [(c["counted_by"], c["quantity"], c["current"]) for c in recounted["counts"]] == [
        ("ann", 6, False),
        ("bob", 7, True),
        ("ann", 7, True),
    ]
    review = (await client.get(f"/stock-takes/{opened['id']}")).json()
    assert lines_of(review) == {
        "CAP": (5, 5, 7, 2, True, None),
        "MUG": (10, 10, 8, -2, True, None),
        "TEE": (3, 3, 3, 0, True, None),
    }
    assert review["totals"] == {
        "lines": 3,
        "counted": 3,
        "uncounted": 0,
        "with_variance": 2,
        "disputed": 0,
        "units_over": 2,
        "units_short": 2,
        "net_variance": 0,
    }
    only_variance = (await client.get(f"/stock-takes/{opened['id']}?only=variance")).json()
    assert [line["sku"] for line in only_variance["lines"]] == ["CAP", "MUG"]

    response = await approve(client, opened, by=staff("pat"))

    assert response.status_code == 200, response.text
    approved = response.json()
    assert (approved["status"], approved["approved_by"]) == ("approved", "pat")
    assert {sku: line[-1] for sku, line in lines_of(approved).items()} == {
        "CAP": 2,
        "MUG": -2,
        "TEE": 0,
    }
    assert await inventory.levels("MUG") == {"east": (8, 0), "west": (4, 0)}
    assert await inventory.levels("CAP") == {"east": (7, 0)}
    assert await inventory.levels("TEE") == {"east": (3, 0)}
    reference = opened["id"]
    assert await adjustments(inventory) == [
        ("CAP", "east", 2, 2, "stock-take variance", reference, "pat"),
        ("MUG", "east", -2, 2, "stock-take variance", reference, "pat"),
    ]
    events = await stock_adjusted(inventory)
    assert [
        (key, e["sku"], e["warehouse"], e["quantity_change"], e["on_hand"], e["actor"])
        for key, e in events
    ] == [("CAP", "CAP", "east", 2, 7, "pat"), ("MUG", "MUG", "east", -2, 8, "pat")]
    assert {(e["reason"], e["reference"]) for _, e in events} == {
        ("stock-take variance", reference)
    }


async def test_reservations_and_shipments_during_the_count_are_not_taken_for_variance(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", east=10)
    opened = await open_count(client, skus=["MUG"])
    held, shipped, later = uuid4(), uuid4(), uuid4()
    await inventory.reserve(held, ("MUG", 3))  # still on the shelf: counted
    await inventory.reserve(shipped, ("MUG", 2))
    await inventory.ship(shipped)  # 2 left the shelf before the count: 8 expected

    line = await count(client, opened, "MUG", 7, by=staff("ann"))  # one unit is missing

    assert (line["on_hand_at_open"], line["expected"], line["counted"], line["variance"]) == (
        10,
        8,
        7,
        -1,
    )
    await inventory.reserve(later, ("MUG", 4))
    await inventory.ship(later)  # after the count, before approval: not a variance either
    await inventory.stock("MUG", east=6)  # goods arrive meanwhile too
    assert await inventory.levels("MUG") == {"east": (10, 3)}

    response = await approve(client, opened)

    assert response.status_code == 200, response.text
    assert await inventory.levels("MUG") == {"east": (9, 3)}  # only the missing unit
    assert [(sku, delta) for sku, _, delta, *_ in await adjustments(inventory)] == [("MUG", -1)]
    assert await inventory.reservations(held) == [("MUG", "east", 3, "reserved")]


async def test_approving_twice_adjusts_once(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", east=10)
    await inventory.stock("CAP", east=10)
    first = await open_count(client, skus=["MUG"])
    second = await open_count(client, skus=["CAP"])
    await count(client, first, "MUG", 9, by=staff("ann"))
    await count(client, second, "CAP", 12, by=staff("ann"))

    once = await approve(client, first)
    again = await approve(client, first)
    at_once = await asyncio.gather(approve(client, second), approve(client, second))

    assert (once.status_code, again.status_code) == (200, 200)
    assert again.json() == once.json()
    assert [r.status_code for r in at_once] == [200, 200]
    assert at_once[0].json() == at_once[1].json()
    assert await inventory.levels("MUG") == {"east": (9, 0)}
    assert await inventory.levels("CAP") == {"east": (12, 0)}
    assert [(sku, delta) for sku, _, delta, *_ in await adjustments(inventory)] == [
        ("MUG", -1),
        ("CAP", 2),
    ]
    assert [key for key, _ in await stock_adjusted(inventory)] == ["MUG", "CAP"]


async def test_a_count_below_what_a_replacement_holds_while_picked_names_its_order(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", east=5)
    held, replaced = uuid4(), uuid4()
    await inventory.reserve(held, ("MUG", 1))
    await inventory.ship_replacement(replaced, uuid4(), ("MUG", 2), pick_delay=timedelta(hours=1))
    opened = await open_count(client, skus=["MUG"])
    await count(client, opened, "MUG", 2, by=staff("ann"))

    refused = await approve(client, opened)

    assert refused.status_code == 409
    assert (
        "sku 'MUG': the count leaves 2 on hand but 3 are reserved"
        f" (held for orders {held}, {replaced})"
    ) in refused.json()["detail"]


async def test_a_count_below_the_reserved_units_is_refused_until_recounted(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", east=5)
    order = uuid4()
    await inventory.reserve(order, ("MUG", 4))
    opened = await open_count(client, skus=["MUG"])
    await count(client, opened, "MUG", 2, by=staff("ann"))

    refused = await approve(client, opened)

    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert (
        f"sku 'MUG': the count leaves 2 on hand but 4 are reserved (held for orders {order})"
        in detail
    )
    assert "Recount these skus, or have the orders holding them cancelled" in detail
    assert await inventory.levels("MUG") == {"east": (5, 4)}
    assert await adjustments(inventory) == []
    assert (await client.get(f"/stock-takes/{opened['id']}")).json()["status"] == "open"

    await count(client, opened, "MUG", 4, by=staff("bob"))  # the recount finds the held units
    response = await approve(client, opened)

    assert response.status_code == 200, response.text
    assert await inventory.levels("MUG") == {"east": (4, 4)}


async def test_a_sku_found_on_the_shelves_is_added_to_a_count_of_all_skus(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", east=1)
    await inventory.stock("CAP", west=5)  # known, but east has never held it
    opened = await open_count(client)

    found = await count(client, opened, "CAP", 2, by=staff("ann"))
    await count(client, opened, "MUG", 1, by=staff("ann"))
    response = await approve(client, opened)

    assert (found["on_hand_at_open"], found["expected"], found["variance"]) == (0, 0, 2)
    assert response.status_code == 200, response.text
    assert await inventory.levels("CAP") == {"east": (2, 0), "west": (5, 0)}


async def test_uncounted_lines_stop_approval_unless_left_unchanged(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", east=5)
    await inventory.stock("CAP", east=5)
    opened = await open_count(client)
    await count(client, opened, "MUG", 4, by=staff("ann"))

    refused = await approve(client, opened)
    response = await approve(client, opened, uncounted="leave_unchanged")

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"stock-take {opened['id']} has 1 uncounted line(s): CAP; count them, or approve with"
        " uncounted='leave_unchanged' to keep their stock as it is"
    )
    assert response.status_code == 200, response.text
    assert lines_of(response.json())["CAP"] == (5, 5, None, None, True, None)
    assert await inventory.levels("MUG") == {"east": (4, 0)}
    assert await inventory.levels("CAP") == {"east": (5, 0)}


async def test_retried_openings_and_counts_record_nothing_new(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("MUG", east=5)
    opening = {"stock_take_id": str(uuid4()), "warehouse": "east"}
    first = await client.post("/stock-takes", json={**opening, "skus": ["MUG"]})
    retry = await client.post("/stock-takes", json={**opening, "skus": ["MUG"]})
    other = await client.post("/stock-takes", json={**opening, "warehouse": "west"})
    counting = {"count_id": str(uuid4()), "sku": "MUG", "quantity": 4}
    url = f"/stock-takes/{opening['stock_take_id']}/counts"

    counted = await client.post(url, json=counting)
    recounted = await client.post(url, json=counting)
    changed = await client.post(url, json={**counting, "quantity": 3})

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert other.status_code == 409
    assert "exists already" in other.json()["detail"]
    assert (counted.status_code, recounted.status_code) == (201, 201)
    assert len(recounted.json()["counts"]) == 1
    assert changed.status_code == 409
    assert changed.json()["detail"].endswith("send a new count_id for a new count")


async def test_stock_takes_are_listed_newest_first_a_page_at_a_time(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("A", east=1, west=1)
    await inventory.stock("B", east=1)
    opened = [
        await open_count(client, "east", ["A"]),
        await open_count(client, "west", ["A"]),
        await open_count(client, "east", ["B"]),
    ]
    await client.post(f"/stock-takes/{opened[0]['id']}/cancel")
    ids = [s["id"] for s in reversed(opened)]

    page1 = (await client.get("/stock-takes?limit=2")).json()
    page2 = (await client.get(f"/stock-takes?limit=2&cursor={page1['next']}")).json()
    east_open = (await client.get("/stock-takes?warehouse=east&status=open")).json()

    assert [s["id"] for s in page1["items"]] == ids[:2]
    assert [s["id"] for s in page2["items"]] == ids[2:]
    assert page2["next"] is None
    assert [(s["id"], s["lines"], s["counted"]) for s in east_open["items"]] == [
        (opened[2]["id"], 1, 0)
    ]
    assert east_open["next"] is None


async def test_errors_name_what_is_wrong_and_what_to_do(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", east=5)
    await inventory.stock("CAP", east=5)

    unknown_warehouse = await client.post("/stock-takes", json={"warehouse": "north"})
    unknown_sku = await client.post(
        "/stock-takes", json={"warehouse": "east", "skus": ["MUG", "NOPE-1"]}
    )
    malformed_warehouse = await client.post("/stock-takes", json={"warehouse": "east/2"})
    opened = await open_count(client, skus=["MUG"])
    overlapping = await client.post("/stock-takes", json={"warehouse": "east"})
    not_in_scope = await client.post(
        f"/stock-takes/{opened['id']}/counts", json={"sku": "CAP", "quantity": 1}
    )
    negative = await client.post(
        f"/stock-takes/{opened['id']}/counts", json={"sku": "MUG", "quantity": -1}
    )
    someone_else = await client.post(
        f"/stock-takes/{opened['id']}/counts",
        json={"sku": "MUG", "quantity": 1, "counted_by": "ann"},
    )
    missing = uuid4()
    no_such = await client.post(
        f"/stock-takes/{missing}/counts", json={"sku": "MUG", "quantity": 1}
    )
    bad_cursor = await client.get("/stock-takes?cursor=not-a-cursor")
    await count(client, opened, "MUG", 5, by=staff("ann"))
    assert (await approve(client, opened)).status_code == 200
    count_after = await client.post(
        f"/stock-takes/{opened['id']}/counts", json={"sku": "MUG", "quantity": 1}
    )
    cancel_after = await client.post(f"/stock-takes/{opened['id']}/cancel")

    assert unknown_warehouse.status_code == 422
    assert unknown_warehouse.json()["detail"][0]["loc"] == ["body", "warehouse"]
    assert unknown_warehouse.json()["detail"][0]["msg"] == (
        "no warehouse 'north'; the warehouses are: east, west"
    )
    assert malformed_warehouse.status_code == 422
    assert malformed_warehouse.json()["detail"][0]["loc"] == ["body", "warehouse"]
    assert unknown_sku.status_code == 422
    assert unknown_sku.json()["detail"][0]["loc"] == ["body", "skus"]
    assert "unknown sku(s) NOPE-1" in unknown_sku.json()["detail"][0]["msg"]
    assert overlapping.status_code == 409
    assert overlapping.json()["detail"].startswith(f"stock-take {opened['id']} is still open")
    assert not_in_scope.status_code == 409
    assert not_in_scope.json()["detail"] == (
        f"sku 'CAP' is not in stock-take {opened['id']}, which counts only 1 listed sku(s) at"
        " 'east' (MUG); open another stock-take for 'CAP'"
    )
    assert negative.status_code == 422
    assert negative.json()["detail"][0]["loc"] == ["body", "quantity"]
    # Who counts is the token's subject: a body naming a counter is refused.
    assert someone_else.status_code == 422
    assert someone_else.json()["detail"][0]["loc"] == ["body", "counted_by"]
    assert no_such.status_code == 404
    assert no_such.json() == {"detail": f"no stock-take {missing}"}
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert count_after.status_code == 409
    assert count_after.json()["detail"] == (
        f"stock-take {opened['id']} is approved: counts can no longer be recorded;"
        " open a new stock-take to count again"
    )
    assert cancel_after.status_code == 409
    assert "cannot be cancelled" in cancel_after.json()["detail"]


async def test_a_cancelled_stock_take_changes_nothing_and_cannot_be_approved(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", east=5)
    opened = await open_count(client, skus=["MUG"])
    await count(client, opened, "MUG", 1, by=staff("ann"))

    cancelled = await client.post(
        f"/stock-takes/{opened['id']}/cancel",
        json={"reason": "wrong aisle"},
    )
    refused = await approve(client, opened)
    reopened = await open_count(client, skus=["MUG"])  # the SKU is free to count again

    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == (
        "cancelled",
        "wrong aisle",
    )
    assert refused.status_code == 409
    assert "was cancelled by wes" in refused.json()["detail"]
    assert reopened["status"] == "open"
    assert await inventory.levels("MUG") == {"east": (5, 0)}
    assert UUID(reopened["id"]) != UUID(opened["id"])


async def test_counts_sent_at_the_same_moment_are_each_recorded_once(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", east=3)
    await inventory.stock("CAP", west=1)  # east has never held it: found while counting
    opened = await open_count(client)
    url = f"/stock-takes/{opened['id']}/counts"
    retried = {"count_id": str(uuid4()), "sku": "MUG", "quantity": 3}
    ann, bob = staff("ann"), staff("bob")

    answers = await asyncio.gather(
        client.post(url, json=retried, headers=ann),
        client.post(url, json=retried, headers=ann),
        client.post(url, json={"sku": "CAP", "quantity": 2}, headers=ann),
        client.post(url, json={"sku": "CAP", "quantity": 2}, headers=bob),
    )

    assert [a.status_code for a in answers] == [201, 201, 201, 201], [a.text for a in answers]
    lines = {
        line["sku"]: line
        for line in (await client.get(f"/stock-takes/{opened['id']}")).json()["lines"]
    }
    assert [c["counted_by"] for c in lines["MUG"]["counts"]] == ["ann"]
    assert sorted(c["counted_by"] for c in lines["CAP"]["counts"]) == ["ann", "bob"]
    assert (lines["CAP"]["on_hand_at_open"], lines["CAP"]["variance"]) == (0, 2)
