"""Who may do what with the inventory over HTTP: warehouse staff everything, support reads.

Support reads what answers a customer (an order's shipment and replacements, a SKU's stock,
the catalogue) and changes nothing; a customer's token opens nothing here; a request without
a token is a 401. Who acts is the token's subject: a body that names someone is refused. The
service is built as in production but not started; tokens come from the session's
development issuer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal
from uuid import uuid4

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from orderly_dev.identity import DevIssuer
from orderly_kit.auth import Permission, Public, Role, access_of
from orderly_kit.service import Service

if TYPE_CHECKING:  # fixtures' types; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory, Staff

Who = Literal["anyone", "support", "warehouse"]
NOWHERE = uuid4()

#: Every route of the API (the kit's health and metrics routes aside): who may call it
#: besides admin ("support": support and warehouse staff), and a request to it that
#: changes nothing whoever sends it (an unknown id, an empty body).
ROUTES: dict[tuple[str, str], tuple[Who, str, Any]] = {
    ("GET", "/shipments/{order_id}"): ("support", f"/shipments/{NOWHERE}", None),
    ("POST", "/carriers/{carrier}/webhooks"): ("anyone", "/carriers/simpost/webhooks", {}),
    ("POST", "/stock-takes"): ("warehouse", "/stock-takes", {}),
    ("GET", "/stock-takes"): ("warehouse", "/stock-takes", None),
    ("GET", "/stock-takes/{stock_take_id}"): ("warehouse", f"/stock-takes/{NOWHERE}", None),
    ("POST", "/stock-takes/{stock_take_id}/counts"): (
        "warehouse",
        f"/stock-takes/{NOWHERE}/counts",
        {},
    ),
    ("POST", "/stock-takes/{stock_take_id}/approve"): (
        "warehouse",
        f"/stock-takes/{NOWHERE}/approve",
        None,
    ),
    ("POST", "/stock-takes/{stock_take_id}/cancel"): (
        "warehouse",
        f"/stock-takes/{NOWHERE}/cancel",
        None,
    ),
    ("POST", "/transfers"): ("warehouse", "/transfers", {}),
    ("GET", "/transfers"): ("warehouse", "/transfers", None),
    ("GET", "/transfers/{transfer_id}"): ("warehouse", f"/transfers/{NOWHERE}", None),
    ("PATCH", "/transfers/{transfer_id}"): ("warehouse", f"/transfers/{NOWHERE}", {}),
    ("POST", "/transfers/{transfer_id}/dispatch"): (
        "warehouse",
        f"/transfers/{NOWHERE}/dispatch",
        None,
    ),
    ("POST", "/transfers/{transfer_id}/receive"): (
        "warehouse",
        f"/transfers/{NOWHERE}/receive",
        {},
    ),
    ("POST", "/transfers/{transfer_id}/cancel"): (
        "warehouse",
        f"/transfers/{NOWHERE}/cancel",
        None,
    ),
    ("POST", "/goods-receipts"): ("warehouse", "/goods-receipts", {}),
    ("GET", "/goods-receipts/{goods_receipt_id}"): (
        "warehouse",
        f"/goods-receipts/{NOWHERE}",
        None,
    ),
    ("POST", "/returns/{return_id}/restock"): ("warehouse", f"/returns/{NOWHERE}/restock", {}),
    ("GET", "/returns/{return_id}/parcel"): ("support", f"/returns/{NOWHERE}/parcel", None),
    ("GET", "/orders/{order_id}/replacements"): (
        "support",
        f"/orders/{NOWHERE}/replacements",
        None,
    ),
    ("GET", "/warehouses"): ("support", "/warehouses", None),
    ("POST", "/warehouses"): ("warehouse", "/warehouses", {}),
    ("GET", "/products"): ("support", "/products", None),
    ("GET", "/products/{sku}"): ("support", "/products/NOPE-1", None),
    ("GET", "/stock/{sku}"): ("support", "/stock/NOPE-1", None),
    ("GET", "/stock"): ("support", "/stock", None),
    ("PUT", "/stock/{sku}/{warehouse}/safety-stock"): (
        "warehouse",
        "/stock/NOPE-1/east/safety-stock",
        {},
    ),
    ("POST", "/stock/{sku}/{warehouse}/adjustments"): (
        "warehouse",
        "/stock/NOPE-1/east/adjustments",
        {},
    ),
    ("GET", "/movements"): ("warehouse", "/movements", None),
    ("POST", "/imports/products"): ("warehouse", "/imports/products", {}),
    ("POST", "/imports/opening-stock"): ("warehouse", "/imports/opening-stock", {}),
    ("GET", "/movements/export"): ("warehouse", "/movements/export", None),
}


@pytest.fixture
async def http(inventory: Inventory) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP API with no caller of its own: each request says who sends it."""
    transport = httpx.ASGITransport(app=inventory.service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://inventory") as c:
        yield c


def caller(identity: DevIssuer, role: Role | None) -> dict[str, str]:
    """The headers of a caller with ``role``; no token at all for None."""
    if role is None:
        return {}
    if role is Role.CUSTOMER:
        return identity.headers(role, sub="user-ada", customer_id="C-ADA")
    return identity.headers(role)


def let_in(who: Who, role: Role | None) -> bool:
    """Whether a route ``who`` may call lets a caller with ``role`` in (admin: everywhere)."""
    if who == "anyone":
        return True
    if role in (Role.WAREHOUSE, Role.ADMIN):
        return True
    return who == "support" and role is Role.SUPPORT


def outcome(status: int) -> str:
    """401, 403, or "let in" (whatever the route then answered: 200, 404, 422...)."""
    return {401: "401", 403: "403"}.get(status, "let in")


def test_every_route_declares_one_access_and_only_the_carriers_webhook_is_open(
    service: Service,
) -> None:
    declared = {
        (method, route.path): access_of(ctx.dependant.dependencies)
        for ctx in iter_route_contexts(service.http.routes)
        if isinstance(route := ctx.original_route, APIRoute)
        # The kit's routes (health, metrics, audit) are every service's: tests/contract.
        and not route.endpoint.__module__.startswith("orderly_kit.")
        for method in route.methods or ()
    }

    assert set(declared) == set(ROUTES)
    assert {route: len(found) for route, found in declared.items()} == dict.fromkeys(ROUTES, 1)
    assert [route for route, (found,) in declared.items() if isinstance(found, Public)] == [
        ("POST", "/carriers/{carrier}/webhooks")
    ]
    readable_by_support = {
        route
        for route, (found,) in declared.items()
        if isinstance(found, Permission) and Role.SUPPORT in found.holders
    }
    assert readable_by_support == {r for r, (who, _, _) in ROUTES.items() if who == "support"}
    assert all(method == "GET" for method, _ in readable_by_support)


@pytest.mark.parametrize(
    "role",
    [None, Role.CUSTOMER, Role.SUPPORT, Role.WAREHOUSE, Role.FINANCE, Role.CHECKOUT, Role.ADMIN],
    ids=lambda r: "no-token" if r is None else r.value,
)
async def test_each_role_is_let_in_where_it_may_and_turned_away_elsewhere(
    http: httpx.AsyncClient, identity: DevIssuer, role: Role | None
) -> None:
    headers = caller(identity, role)
    seen, expected = {}, {}
    for route, (who, url, body) in ROUTES.items():
        response = await http.request(route[0], url, json=body, headers=headers)
        seen[route] = outcome(response.status_code)
        expected[route] = "let in" if let_in(who, role) else ("401" if role is None else "403")

    assert seen == expected


async def test_without_a_token_nothing_is_read_or_changed(
    inventory: Inventory, http: httpx.AsyncClient
) -> None:
    await inventory.stock("MUG", east=5)

    read = await http.get("/stock/MUG")
    write = await http.post(
        "/stock/MUG/east/adjustments",
        json={"adjustment_id": "a-1", "quantity": -5, "reason": "gone"},
    )

    assert (read.status_code, write.status_code) == (401, 401)
    assert read.headers["www-authenticate"] == "Bearer"
    assert "MUG" not in read.text
    assert await inventory.levels("MUG") == {"east": (5, 0)}


async def test_a_customer_sees_neither_stock_nor_shipments_here(
    inventory: Inventory, http: httpx.AsyncClient, identity: DevIssuer
) -> None:
    await inventory.stock("MUG", east=5)
    order = uuid4()
    await inventory.reserve(order, ("MUG", 1))
    await inventory.ship(order)
    ada = caller(identity, Role.CUSTOMER)

    stock = await http.get("/stock/MUG", headers=ada)
    shipment = await http.get(f"/shipments/{order}", headers=ada)

    assert (stock.status_code, shipment.status_code) == (403, 403)
    assert shipment.json()["detail"] == (
        "shipments:read needs one of the roles: admin, support, warehouse"
    )


async def test_support_reads_stock_and_a_shipment_but_neither_adjusts_nor_approves(
    inventory: Inventory, http: httpx.AsyncClient, identity: DevIssuer, staff: Staff
) -> None:
    await inventory.stock("MUG", east=5, west=2)
    order = uuid4()
    await inventory.reserve(order, ("MUG", 1))
    await inventory.ship(order)
    support, wes = identity.headers(Role.SUPPORT, sub="alice"), staff("wes")
    opened = await http.post("/stock-takes", json={"warehouse": "west"}, headers=wes)
    stock_take = opened.json()["id"]
    await http.post(
        f"/stock-takes/{stock_take}/counts", json={"sku": "MUG", "quantity": 1}, headers=wes
    )
    adjustment = {"adjustment_id": "a-1", "quantity": 3, "reason": "found"}

    stock = await http.get("/stock/MUG", headers=support)
    shipment = await http.get(f"/shipments/{order}", headers=support)
    adjusted = await http.post("/stock/MUG/east/adjustments", json=adjustment, headers=support)
    approved = await http.post(f"/stock-takes/{stock_take}/approve", headers=support)
    ledger = await http.get("/movements", headers=support)

    assert (stock.status_code, stock.json()["available"]) == (200, 6)
    assert (shipment.status_code, shipment.json()["order_id"]) == (200, str(order))
    assert (adjusted.status_code, approved.status_code, ledger.status_code) == (403, 403, 403)
    assert await inventory.levels("MUG") == {"east": (4, 0), "west": (2, 0)}
    assert await inventory.sent("StockAdjusted") == []

    # What support may not do, warehouse staff may: in their own name.
    by_wes = await http.post("/stock/MUG/east/adjustments", json=adjustment, headers=wes)
    approved_by_wes = await http.post(f"/stock-takes/{stock_take}/approve", headers=wes)

    assert (by_wes.status_code, by_wes.json()["actor"]) == (201, "wes")
    assert (approved_by_wes.status_code, approved_by_wes.json()["approved_by"]) == (200, "wes")
    assert await inventory.levels("MUG") == {"east": (7, 0), "west": (1, 0)}


async def test_a_body_that_names_who_acts_is_refused_and_changes_nothing(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("MUG", east=5)
    transfer = await client.post(
        "/transfers",
        json={
            "from_warehouse": "east",
            "to_warehouse": "west",
            "lines": [{"sku": "MUG", "quantity": 1}],
        },
    )
    stock_take = await client.post("/stock-takes", json={"warehouse": "east"})

    refused = {
        "actor": await client.post(
            "/stock/MUG/east/adjustments",
            json={"adjustment_id": "a-1", "quantity": 1, "reason": "found", "actor": "mallory"},
        ),
        "received_by": await client.post(
            "/goods-receipts",
            json={
                "purchase_order": "PO-1",
                "receipt_id": "DN-1",
                "warehouse": "east",
                "lines": [{"sku": "MUG", "quantity": 1}],
                "received_by": "mallory",
            },
        ),
        "dispatched_by": await client.post(
            f"/transfers/{transfer.json()['transfer_id']}/dispatch",
            json={"dispatched_by": "mallory"},
        ),
        "approved_by": await client.post(
            f"/stock-takes/{stock_take.json()['id']}/approve", json={"approved_by": "mallory"}
        ),
    }

    assert {field: r.status_code for field, r in refused.items()} == dict.fromkeys(refused, 422)
    assert {field: r.json()["detail"][0]["loc"] for field, r in refused.items()} == {
        field: ["body", field] for field in refused
    }
    assert await inventory.levels("MUG") == {"east": (5, 0)}
    assert await inventory.movements_of("MUG") == [("opening", "east", 5, 0, "test")]


async def test_an_import_names_the_connector_of_the_token_whatever_the_query_says(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await client.post("/imports/products", json=[{"sku": "MUG", "name": "Mug"}])

    response = await client.post(
        "/imports/opening-stock?actor=mallory",
        json=[{"sku": "MUG", "warehouse": "east", "on_hand": 4}],
        headers=staff("erp-connector"),
    )

    assert response.status_code == 200
    assert await inventory.movements_of("MUG") == [("opening", "east", 4, 0, "erp-connector")]
