"""The warehouse's privileged actions are in the audit log, with who did them (the token's
subject and roles), what they changed and the request they came by; what changes nothing
adds no row. Read back as an admin reads it: GET /audit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from orderly_dev.identity import DevIssuer
from orderly_kit.auth import Role

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory, Staff


async def audit_log(client: httpx.AsyncClient, identity: DevIssuer) -> list[dict[str, Any]]:
    response = await client.get("/audit", headers=identity.headers(Role.ADMIN, sub="ada"))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_an_adjustment_is_audited_once_with_its_before_and_after(
    inventory: Inventory, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    await inventory.stock("MUG", east=10)
    body = {"quantity": -2, "reason": "broken in the aisle", "reference": "TICKET-9"}
    key = {"Idempotency-Key": "adj-1", "X-Request-ID": "req-adj-1"}

    first = await client.post("/stock/MUG/east/adjustments", json=body, headers=key)
    again = await client.post("/stock/MUG/east/adjustments", json=body, headers=key)

    assert (first.status_code, again.status_code) == (201, 200)
    [row] = await audit_log(client, identity)
    assert {k: row[k] for k in ("actor", "roles", "action", "target", "request_id")} == {
        "actor": "wes",
        "roles": "warehouse",
        "action": "stock.adjust",
        "target": "stock:MUG@east",
        "request_id": "req-adj-1",
    }
    assert row["before"] == {"on_hand": 10}
    assert row["after"] == {
        "on_hand": 8,
        "quantity": -2,
        "reason": "broken in the aisle",
        "reference": "TICKET-9",
        "adjustment_id": "adj-1",
    }


async def test_a_stock_take_approval_and_a_transfer_are_audited_by_who_did_each(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff, identity: DevIssuer
) -> None:
    await inventory.stock("MUG", east=10)
    opened = (await client.post("/stock-takes", json={"warehouse": "east", "skus": ["MUG"]})).json()
    counted = await client.post(
        f"/stock-takes/{opened['id']}/counts",
        json={"sku": "MUG", "quantity": 7},
        headers=staff("ann"),
    )
    approved = await client.post(f"/stock-takes/{opened['id']}/approve", headers=staff("pat"))
    draft = await client.post(
        "/transfers",
        json={
            "from_warehouse": "east",
            "to_warehouse": "west",
            "lines": [{"sku": "MUG", "quantity": 2}],
        },
    )
    transfer = draft.json()["transfer_id"]
    dispatched = await client.post(f"/transfers/{transfer}/dispatch", headers=staff("bo"))

    assert (counted.status_code, approved.status_code, dispatched.status_code) == (201, 200, 200)
    rows = await audit_log(client, identity)
    assert [(r["action"], r["actor"], r["target"]) for r in rows] == [
        ("stocktake.approve", "pat", f"stocktake:{opened['id']}"),
        ("transfer.dispatch", "bo", f"transfer:{transfer}"),
    ]
    assert rows[0]["after"]["variances"] == {"MUG": -3}
    assert (rows[1]["before"], rows[1]["after"]["status"]) == ({"status": "draft"}, "dispatched")
    # The chain: each row names the hash of the one before.
    assert rows[1]["prev_hash"] == rows[0]["hash"]


async def test_an_import_is_audited_with_what_it_did(
    client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    rows = [{"sku": "P-1", "name": "Plate"}, {"sku": "P-2", "name": "Bowl"}]
    assert (await client.post("/imports/products", json=rows)).status_code == 200

    [row] = await audit_log(client, identity)
    assert (row["action"], row["actor"], row["target"]) == (
        "catalogue.import",
        "wes",
        "catalogue:products",
    )
    assert row["after"] == {"rows": 2, "created": 2, "updated": 0, "unchanged": 0}
