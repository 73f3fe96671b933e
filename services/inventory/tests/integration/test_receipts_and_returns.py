"""Goods receipts from purchase orders and returns restocked at the dock, over HTTP.

Both are recorded once under their key, so a retried POST moves no stock twice.
After each test the ``inventory`` fixture checks the levels against the ledger.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx
from sqlalchemy import select

from orderly_inventory.adapters import orm

if TYPE_CHECKING:  # fixtures' types; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory, Staff


def receipt(receipt_id: str = "DN-1", **changes: Any) -> dict[str, Any]:
    return {
        "purchase_order": "PO-1001",
        "receipt_id": receipt_id,
        "warehouse": "east",
        "lines": [{"sku": "MUG", "quantity": 12}, {"sku": "TEE", "quantity": 5}],
    } | changes


async def on_hand(inventory: Inventory, sku: str) -> dict[str, int]:
    return {w: units for w, (units, _) in (await inventory.levels(sku)).items()}


async def test_a_receipt_posted_twice_with_the_same_id_receives_once(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("MUG", east=3)
    await inventory.stock("TEE", west=1)

    first = await client.post("/goods-receipts", json=receipt())
    retried = await client.post("/goods-receipts", json=receipt())

    assert (first.status_code, retried.status_code) == (201, 200)
    assert retried.json() == first.json()
    body = first.json()
    assert (body["purchase_order"], body["receipt_id"], body["warehouse"], body["received_by"]) == (
        "PO-1001",
        "DN-1",
        "east",
        "wes",  # the client's caller: the subject of its token
    )
    assert await on_hand(inventory, "MUG") == {"east": 15}
    assert await on_hand(inventory, "TEE") == {"east": 5, "west": 1}  # a new level at east
    assert await inventory.movements("PO-1001") == [
        ("MUG", "east", "receipt", 12, 12, 0, "wes"),
        ("TEE", "east", "receipt", 5, 5, 0, "wes"),
    ]
    sent = await inventory.sent("StockReceived")
    assert [
        (key, b["sku"], b["warehouse"], b["quantity"], b["on_hand"], b["reference"])
        for _, key, b in sent
    ] == [("MUG", "MUG", "east", 12, 15, "PO-1001"), ("TEE", "TEE", "east", 5, 5, "PO-1001")]
    shown = await client.get(f"/goods-receipts/{body['goods_receipt_id']}")
    assert shown.json() == body


async def test_concurrent_retries_of_one_receipt_receive_once(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    answers = await asyncio.gather(
        *(client.post("/goods-receipts", json=receipt()) for _ in range(4))
    )

    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["goods_receipt_id"] for a in answers}) == 1
    assert await on_hand(inventory, "MUG") == {"east": 12}


async def test_another_delivery_note_is_another_receipt_and_a_reused_one_a_conflict(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await client.post("/goods-receipts", json=receipt("DN-1"))

    second = await client.post("/goods-receipts", json=receipt("DN-2"))
    reused = await client.post(
        "/goods-receipts", json=receipt("DN-1", lines=[{"sku": "MUG", "quantity": 1}])
    )

    assert second.status_code == 201
    assert reused.status_code == 409
    assert reused.json()["detail"].startswith(
        "receipt 'DN-1' of purchase order 'PO-1001' was already recorded ("
    )
    assert reused.json()["detail"].endswith("give a new receipt_id for another delivery")
    assert await on_hand(inventory, "MUG") == {"east": 24}


async def test_a_sku_unknown_to_the_catalogue_is_received_and_added_named_after_itself(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    async with inventory.service.database.transaction() as s:
        await s.execute(orm.products.insert().values(sku="MUG", name="Blue mug"))

    response = await client.post("/goods-receipts", json=receipt())

    assert response.status_code == 201
    assert response.json()["new_products"] == ["TEE"]
    async with inventory.service.database.sessions() as s:
        query = select(orm.products.c.sku, orm.products.c.name)
        names: dict[str, str] = dict((await s.execute(query)).tuples().all())
    assert names == {"MUG": "Blue mug", "TEE": "TEE"}


async def test_invalid_receipts_are_422_naming_the_field_and_unknown_ones_404(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    twice = [{"sku": "MUG", "quantity": 1}, {"sku": "MUG", "quantity": 2}]

    north = await client.post("/goods-receipts", json=receipt(warehouse="north"))
    duplicate = await client.post("/goods-receipts", json=receipt(lines=twice))
    no_note = await client.post("/goods-receipts", json=receipt(receipt_id=""))
    unknown = uuid4()
    missing = await client.get(f"/goods-receipts/{unknown}")

    assert [r.status_code for r in (north, duplicate, no_note)] == [422] * 3
    assert north.json()["detail"] == [
        {
            "type": "value_error",
            "loc": ["body", "warehouse"],
            "msg": "no warehouse 'north' (known: east, west)",
            "input": "north",
        }
    ]
    assert duplicate.json()["detail"][0]["loc"] == ["body", "lines", 1, "sku"]
    assert no_note.json()["detail"][0]["loc"] == ["body", "receipt_id"]
    assert missing.status_code == 404
    assert missing.json() == {"detail": f"no goods receipt {unknown}"}
    assert await inventory.movements("PO-1001") == []


ORDER = uuid4()


def returned(**changes: Any) -> dict[str, Any]:
    return {
        "order_id": str(ORDER),
        "warehouse": "west",
        "lines": [
            {"sku": "MUG", "quantity": 2, "condition": "resellable"},
            {"sku": "MUG", "quantity": 1, "condition": "damaged"},
        ],
    } | changes


async def test_a_return_restocked_at_the_dock_twice_is_restocked_once_and_answered_twice(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", west=4)
    return_id = uuid4()
    dock = staff("dock-7")

    first = await client.post(f"/returns/{return_id}/restock", json=returned(), headers=dock)
    again = await client.post(f"/returns/{return_id}/restock", json=returned(), headers=dock)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert first.json()["restocked_by"] == "dock-7"
    assert await on_hand(inventory, "MUG") == {"west": 6}
    assert await inventory.movements(str(return_id)) == [
        ("MUG", "west", "write_off", 1, 0, 0, "dock-7"),
        ("MUG", "west", "return", 2, 2, 0, "dock-7"),
    ]
    assert await inventory.reasons(str(return_id)) == [
        "returned damaged",
        "returned by the customer, back on the shelf",
    ]
    answers = await inventory.sent("ReturnRestocked")
    assert [key for _, key, _ in answers] == [str(ORDER), str(ORDER)]
    assert answers[0][2] == answers[1][2]
    assert answers[0][2]["lines"] == returned()["lines"]


async def test_a_return_restocked_before_with_other_goods_is_a_conflict(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    return_id = uuid4()
    await client.post(f"/returns/{return_id}/restock", json=returned())

    other = await client.post(
        f"/returns/{return_id}/restock",
        json=returned(lines=[{"sku": "MUG", "quantity": 3, "condition": "resellable"}]),
    )
    nowhere = await client.post(f"/returns/{uuid4()}/restock", json=returned(warehouse="x"))

    assert other.status_code == 409
    assert other.json()["detail"].startswith(f"return {return_id} was already restocked into west")
    assert nowhere.status_code == 422
    assert nowhere.json()["detail"][0]["loc"] == ["body", "warehouse"]
    assert await on_hand(inventory, "MUG") == {"west": 2}
    assert len(await inventory.sent("ReturnRestocked")) == 1
