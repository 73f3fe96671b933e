"""The warehouse staff's API over a real database: warehouses, products, levels, safety
stock, adjustments and the ledger, with keyset pages and clear errors."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx
import pytest

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory, Staff


async def walk(client: httpx.AsyncClient, path: str, **params: Any) -> list[list[Any]]:
    """Every page of a list, following ``next`` until the last."""
    pages: list[list[Any]] = []
    cursor: str | None = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next"]
        if cursor is None:
            return pages


async def products(client: httpx.AsyncClient, *skus: str) -> None:
    rows = [{"sku": sku, "name": f"Item {sku}"} for sku in skus]
    assert (await client.post("/imports/products", json=rows)).status_code == 200


def adjustment(quantity: int, **fields: Any) -> dict[str, Any]:
    return {"quantity": quantity, "reason": "found behind the shelf"} | fields


# -- warehouses ---------------------------------------------------------------------------
async def test_a_warehouse_is_added_once_and_listed_in_priority_order(
    client: httpx.AsyncClient,
) -> None:
    north = {"code": "north", "name": "North hub", "region": "north", "priority": 0}

    added = await client.post("/warehouses", json=north)
    again = await client.post("/warehouses", json=north)
    clash = await client.post("/warehouses", json=north | {"name": "Another"})

    assert (added.status_code, added.json()) == (201, north)
    assert (again.status_code, again.json()) == (200, north)
    assert clash.status_code == 409
    assert clash.json()["detail"] == (
        "warehouse 'north' exists already (name 'North hub', region 'north', priority 0):"
        " choose another code"
    )
    listed = (await client.get("/warehouses")).json()
    assert [w["code"] for w in listed] == ["north", "east", "west"]


async def test_a_bad_warehouse_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/warehouses", json={"code": "no spaces", "name": "X"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "code"]


# -- products and levels ------------------------------------------------------------------
async def test_walking_the_pages_of_products_gives_each_once_in_sku_order(
    client: httpx.AsyncClient,
) -> None:
    skus = [f"P-{n:03d}" for n in range(23)]
    await products(client, *reversed(skus))

    pages = await walk(client, "/products", limit=5)

    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [item["sku"] for page in pages for item in page] == skus


async def test_an_unknown_product_is_404_and_a_foreign_cursor_is_422(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/products/NOPE-1")
    foreign = await client.get("/products", params={"cursor": "not-ours"})
    too_many = await client.get("/products", params={"limit": 501})

    assert (missing.status_code, missing.json()) == (404, {"detail": "no product has sku 'NOPE-1'"})
    assert foreign.status_code == 422
    assert foreign.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert too_many.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_stock_levels_are_paged_and_filtered_by_warehouse_prefix_and_low_stock(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    for n in range(7):
        await inventory.stock(f"MUG-{n}", east=10, west=n)
    await inventory.stock("TEE-1", east=1)
    await inventory.reserve(uuid4(), ("MUG-3", 10))  # east: all reserved
    await products(client, "MUG-3")
    await client.put("/stock/MUG-3/east/safety-stock", json={"safety_stock": 2})

    pages = await walk(client, "/stock", limit=4)
    west = await walk(client, "/stock", warehouse="west", sku_prefix="MUG-", limit=3)
    low = (await client.get("/stock", params={"low_only": "true"})).json()

    levels = [level for page in pages for level in page]
    assert len(levels) == 15
    assert [(lv["sku"], lv["warehouse"]) for lv in levels[:3]] == [
        ("MUG-0", "east"),
        ("MUG-0", "west"),
        ("MUG-1", "east"),
    ]
    assert [lv["sku"] for page in west for lv in page] == [f"MUG-{n}" for n in range(7)]
    assert low == {
        "items": [
            {
                "sku": "MUG-3",
                "warehouse": "east",
                "on_hand": 10,
                "reserved": 10,
                "available": 0,
                "in_transit": 0,
                "safety_stock": 2,
                "low_stock": True,
            }
        ],
        "next": None,
    }
    unknown = await client.get("/stock", params={"warehouse": "north"})
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "no warehouse 'north'"})


# -- safety stock -------------------------------------------------------------------------
async def test_a_safety_stock_that_crosses_alerts_at_once_both_ways(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("CAP", east=8)
    path = "/stock/CAP/east/safety-stock"

    raised = await client.put(path, json={"safety_stock": 10})
    same = await client.put(path, json={"safety_stock": 12})
    lowered = await client.put(path, json={"safety_stock": 5})

    assert raised.status_code == 200
    assert (raised.json()["low_stock"], lowered.json()["low_stock"]) == (True, False)
    assert same.json()["safety_stock"] == 12
    alerts = await inventory.sent("LowStockDetected", "BackInStock")
    assert [(kind, key, b["available"], b["safety_stock"]) for kind, key, b in alerts] == [
        ("LowStockDetected", "CAP", 8, 10),
        ("BackInStock", "CAP", 8, 5),
    ]


async def test_safety_stock_of_unknown_things_is_404_naming_them(
    client: httpx.AsyncClient,
) -> None:
    body = {"safety_stock": 1}

    no_warehouse = await client.put("/stock/CAP/north/safety-stock", json=body)
    no_sku = await client.put("/stock/CAP/east/safety-stock", json=body)
    negative = await client.put("/stock/CAP/east/safety-stock", json=body | {"safety_stock": -1})

    assert no_warehouse.json() == {"detail": "no warehouse 'north'"}
    assert no_sku.status_code == 404
    assert no_sku.json() == {
        "detail": "sku 'CAP' is neither a product nor stocked at warehouse 'east'"
    }
    assert negative.json()["detail"][0]["loc"] == ["body", "safety_stock"]


# -- adjustments --------------------------------------------------------------------------
async def test_an_adjustment_moves_on_hand_once_and_a_retry_gets_the_first_answer(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("BAG", east=5)
    path = "/stock/BAG/east/adjustments"
    body = adjustment(3, adjustment_id="adj-1", reference="TICKET-9")
    jane = staff("ops-jane")

    first = await client.post(path, json=body, headers=jane)
    retry = await client.post(path, json=body, headers=jane)

    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert {
        k: first.json()[k] for k in ("adjustment_id", "quantity", "on_hand", "reference", "actor")
    } == {
        "adjustment_id": "adj-1",
        "quantity": 3,
        "on_hand": 8,
        "reference": "TICKET-9",
        "actor": "ops-jane",  # the subject of her token
    }
    assert await inventory.movements_of("BAG") == [
        ("opening", "east", 5, 0, "test"),
        ("adjustment", "east", 3, 0, "ops-jane"),
    ]
    assert await inventory.sent("StockAdjusted") == [
        (
            "StockAdjusted",
            "BAG",
            {
                "sku": "BAG",
                "warehouse": "east",
                "occurred_at": first.json()["occurred_at"],
                "quantity_change": 3,
                "on_hand": 8,
                "reason": "found behind the shelf",
                "reference": "TICKET-9",
                "actor": "ops-jane",
            },
        )
    ]


async def test_a_card_number_in_free_text_or_a_header_is_refused_and_nothing_moves(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("BAG", east=5)
    path = "/stock/BAG/east/adjustments"

    in_reason = await client.post(
        path, json=adjustment(3, reason="customer paid with 4111 1111 1111 1111")
    )
    in_key = await client.post(
        path, json=adjustment(3), headers={"Idempotency-Key": "4111111111111111"}
    )

    assert (in_reason.status_code, in_key.status_code) == (422, 422)
    assert in_reason.json()["detail"] == [
        {
            "type": "card_number",
            "loc": ["body", "reason"],
            "msg": "looks like a card number; send the provider's token instead",
        }
    ]
    assert in_key.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    assert "1111" not in in_reason.text + in_key.text
    assert await inventory.movements_of("BAG") == [("opening", "east", 5, 0, "test")]
    assert await inventory.sent("StockAdjusted") == []


async def test_two_concurrent_requests_with_one_id_adjust_once(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("BAG", east=5)
    body = adjustment(2, adjustment_id="adj-race")

    answers = await asyncio.gather(
        *(client.post("/stock/BAG/east/adjustments", json=body) for _ in range(4))
    )

    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["movement_id"] for a in answers}) == 1
    assert await inventory.levels("BAG") == {"east": (7, 0)}
    assert len(await inventory.sent("StockAdjusted")) == 1


async def test_the_idempotency_key_header_serves_as_the_adjustment_id(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("BAG", east=5)
    path = "/stock/BAG/east/adjustments"
    key = {"Idempotency-Key": str(uuid4())}

    first = await client.post(path, json=adjustment(-2), headers=key)
    retry = await client.post(path, json=adjustment(-2), headers=key)
    reused = await client.post(path, json=adjustment(-1), headers=key)
    none = await client.post(path, json=adjustment(-1))
    both = await client.post(path, json=adjustment(-1, adjustment_id="other"), headers=key)

    assert (first.status_code, retry.status_code) == (201, 200)
    assert await inventory.levels("BAG") == {"east": (3, 0)}
    assert reused.status_code == 409
    assert reused.json()["detail"] == (
        f"adjustment id {key['Idempotency-Key']!r} was already used for another adjustment"
        " (it differs in quantity): choose a new id for a new adjustment"
    )
    assert none.status_code == 422
    assert none.json()["detail"][0]["loc"] == ["body", "adjustment_id"]
    assert both.json()["detail"][0]["msg"].startswith("differs from the Idempotency-Key header")


async def test_an_adjustment_below_the_reserved_units_is_409_naming_the_sku(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("BAG", east=5)
    await inventory.reserve(uuid4(), ("BAG", 4))
    path = "/stock/BAG/east/adjustments"

    refused = await client.post(path, json=adjustment(-2, adjustment_id="adj-2"))
    zero = await client.post(path, json=adjustment(0, adjustment_id="z"))
    unknown = await client.post(path.replace("BAG", "NOPE"), json=adjustment(1, adjustment_id="u"))

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "adjusting sku 'BAG' at warehouse 'east' by -2 would leave 3 on hand, below the 4"
        " units reserved for orders: release or ship those orders first, or adjust by less"
    )
    assert await inventory.levels("BAG") == {"east": (5, 4)}
    assert await inventory.sent("StockAdjusted") == []
    assert zero.status_code == 422
    assert zero.json()["detail"][0]["loc"] == ["body", "quantity"]
    assert unknown.status_code == 404
    # A refused adjustment keeps no id: the same id may be used once it is fixed.
    fixed = await client.post(path, json=adjustment(-1, adjustment_id="adj-2"))
    assert (fixed.status_code, fixed.json()["on_hand"]) == (201, 4)


async def test_a_product_gets_a_level_from_its_first_adjustment(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await products(client, "NEW-1")

    response = await client.post(
        "/stock/NEW-1/west/adjustments", json=adjustment(6, adjustment_id="n1")
    )

    assert response.status_code == 201
    assert await inventory.levels("NEW-1") == {"west": (6, 0)}


# -- the ledger ---------------------------------------------------------------------------
async def test_the_ledger_is_paged_in_id_order_and_filtered(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("MUG", east=3, west=5)
    order = uuid4()
    await inventory.reserve(order, ("MUG", 7))  # more than either warehouse holds: split
    await inventory.ship(order)
    await inventory.stock("TEE", east=1)

    pages = await walk(client, "/movements", limit=2)
    west = await walk(client, "/movements", sku="MUG", warehouse="west", limit=10)
    shipped = (await client.get("/movements", params={"kind": "shipment"})).json()["items"]
    of_order = (await client.get("/movements", params={"reference": str(order)})).json()

    every = [m for page in pages for m in page]
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert [m["id"] for m in every] == sorted(m["id"] for m in every)
    assert [(m["kind"], m["sku"], m["warehouse"]) for m in every] == [
        ("opening", "MUG", "east"),
        ("opening", "MUG", "west"),
        ("reservation", "MUG", "east"),
        ("reservation", "MUG", "west"),
        ("shipment", "MUG", "east"),
        ("shipment", "MUG", "west"),
        ("opening", "TEE", "east"),
    ]
    assert [m["kind"] for page in west for m in page] == ["opening", "reservation", "shipment"]
    assert [(m["warehouse"], m["on_hand_delta"], m["reserved_delta"]) for m in shipped] == [
        ("east", -3, -3),
        ("west", -4, -4),
    ]
    assert len(of_order["items"]) == 4
    assert every[0]["occurred_at"].endswith("Z")  # UTC


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "theft"}, "kind"),
        ({"from": "2026-01-01T00:00:00"}, "from"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"cursor": "bm90LWEtbGlzdA=="}, "cursor"),
    ],
    ids=["unknown-kind", "naive-time", "backwards", "foreign-cursor"],
)
async def test_a_bad_ledger_query_is_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await client.get("/movements", params=params)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]
