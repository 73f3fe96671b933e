"""GET /stock/{sku} and GET /shipments/{order_id} over a real database.

The service is built but not started: ASGITransport sends no lifespan events, so
no Kafka consumer starts, and the routes use the service's own database pool.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import uuid4

import httpx

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory


async def test_stock_is_shown_per_warehouse_and_in_total(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("DEMO-0001", east=3, west=5)
    await inventory.reserve(uuid4(), ("DEMO-0001", 6))

    response = await client.get("/stock/DEMO-0001")

    assert response.status_code == 200
    assert response.json() == {
        "sku": "DEMO-0001",
        "warehouses": [
            {"warehouse": "east", "on_hand": 3, "reserved": 3, "available": 0, "in_transit": 0},
            {"warehouse": "west", "on_hand": 5, "reserved": 3, "available": 2, "in_transit": 0},
        ],
        "on_hand": 8,
        "reserved": 6,
        "available": 2,
        "in_transit": 0,
    }


async def test_an_unknown_sku_is_404_with_a_clear_detail(client: httpx.AsyncClient) -> None:
    response = await client.get("/stock/NOPE-1")

    assert response.status_code == 404
    assert response.json() == {"detail": "no stock is recorded for sku 'NOPE-1'"}


async def test_a_malformed_sku_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.get("/stock/-bad sku")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "sku"]


async def test_a_shipment_is_shown_with_its_parcels_lines_and_tracking(
    inventory: Inventory, client: httpx.AsyncClient, webhook: str
) -> None:
    await inventory.stock("A", east=1, west=1)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order)
    await inventory.send_tracking(webhook, after=timedelta(seconds=2))  # both in transit

    response = await client.get(f"/shipments/{order}")

    assert response.status_code == 200
    body = response.json()
    east, west = body["parcels"]
    assert (body["order_id"], body["carrier"], body["status"]) == (
        str(order),
        "SimPost",
        "in_transit",
    )
    assert body["tracking_number"] == east["tracking_number"] != west["tracking_number"]
    assert body["delivered_at"] is None
    assert [(p["warehouse"], p["status"], p["lines"]) for p in (east, west)] == [
        ("east", "in_transit", [{"sku": "A", "quantity": 1}]),
        ("west", "in_transit", [{"sku": "A", "quantity": 1}]),
    ]
    assert [t["status"] for t in east["tracking"]] == ["in_transit"]
    assert east["expected_delivery_at"] > east["shipped_at"]


async def test_a_shipment_is_delivered_once_every_parcel_is(
    inventory: Inventory, client: httpx.AsyncClient, webhook: str
) -> None:
    await inventory.stock("A", east=1, west=1)
    order = uuid4()
    await inventory.reserve(order, ("A", 2))
    await inventory.ship(order)
    await inventory.send_tracking(webhook, after=timedelta(seconds=6))

    body = (await client.get(f"/shipments/{order}")).json()

    assert body["status"] == "delivered"
    assert body["delivered_at"] == max(p["delivered_at"] for p in body["parcels"])
    assert [[t["status"] for t in p["tracking"]] for p in body["parcels"]] == [
        ["in_transit", "out_for_delivery", "delivered"]
    ] * 2


async def test_an_order_without_a_shipment_is_404(client: httpx.AsyncClient) -> None:
    order = uuid4()

    response = await client.get(f"/shipments/{order}")

    assert response.status_code == 404
    assert response.json() == {"detail": f"order {order} has no shipment"}
