"""Transfers between warehouses over HTTP, on a real database: draft, dispatch, receive.

The service is built but not started (ASGITransport sends no lifespan events), so
what it publishes is read from its outbox. After each test the ``inventory``
fixture checks that every stock level still agrees with the ledger.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx
from sqlalchemy import insert

from orderly_inventory.adapters import orm

if TYPE_CHECKING:  # fixtures' types; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory, Staff

Levels = dict[str, tuple[int, int, int]]


async def levels(client: httpx.AsyncClient, sku: str) -> Levels:
    """warehouse → (on hand, reserved, in transit) of ``sku``, as GET /stock shows them."""
    response = await client.get(f"/stock/{sku}")
    assert response.status_code == 200, response.text
    return {
        w["warehouse"]: (w["on_hand"], w["reserved"], w["in_transit"])
        for w in response.json()["warehouses"]
    }


async def draft(client: httpx.AsyncClient, *lines: tuple[str, int], **fields: Any) -> str:
    """A draft transfer from east to west (unless ``fields`` say otherwise) by the client's
    caller (wes); its id."""
    body = {
        "from_warehouse": "east",
        "to_warehouse": "west",
        "lines": [{"sku": sku, "quantity": n} for sku, n in lines],
    } | fields
    response = await client.post("/transfers", json=body)
    assert response.status_code == 201, response.text
    transfer_id: str = response.json()["transfer_id"]
    return transfer_id


async def dispatch(
    client: httpx.AsyncClient, transfer_id: str, by: dict[str, str] | None = None
) -> httpx.Response:
    """The dispatch, by the client's caller (wes) unless ``by`` gives another's headers."""
    return await client.post(f"/transfers/{transfer_id}/dispatch", headers=by)


async def receive(
    client: httpx.AsyncClient,
    transfer_id: str,
    *counts: tuple[str, int, int],
    by: dict[str, str] | None = None,
) -> httpx.Response:
    """The receipt of ``counts`` (sku, received, damaged), by wes unless ``by`` says."""
    return await client.post(
        f"/transfers/{transfer_id}/receive",
        json={"lines": [{"sku": sku, "received": r, "damaged": d} for sku, r, d in counts]},
        headers=by,
    )


async def test_a_transfer_leaves_the_source_travels_and_arrives_short_and_damaged(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await inventory.stock("MUG", east=10)
    await inventory.stock("TEE", east=4, west=1)
    transfer = await draft(client, ("TEE", 3), ("MUG", 6))

    dispatched = await dispatch(client, transfer, by=staff("bo"))

    assert dispatched.status_code == 200
    assert (dispatched.json()["status"], dispatched.json()["dispatched_by"]) == ("dispatched", "bo")
    assert await levels(client, "MUG") == {"east": (4, 0, 0), "west": (0, 0, 6)}
    assert await levels(client, "TEE") == {"east": (1, 0, 0), "west": (1, 0, 3)}

    received = await receive(client, transfer, ("MUG", 4, 1), ("TEE", 3, 0), by=staff("cy"))

    assert received.status_code == 200
    body = received.json()
    assert (body["created_by"], body["status"], body["received_by"]) == ("wes", "received", "cy")
    assert body["lines"] == [
        {"sku": "MUG", "quantity": 6, "received": 4, "damaged": 1, "lost": 1},
        {"sku": "TEE", "quantity": 3, "received": 3, "damaged": 0, "lost": 0},
    ]
    assert await levels(client, "MUG") == {"east": (4, 0, 0), "west": (4, 0, 0)}
    assert await levels(client, "TEE") == {"east": (1, 0, 0), "west": (4, 0, 0)}
    assert await inventory.movements(transfer) == [
        ("MUG", "east", "transfer_out", 6, -6, 0, "bo"),
        ("MUG", "west", "transfer_in_transit", 6, 0, 6, "bo"),
        ("TEE", "east", "transfer_out", 3, -3, 0, "bo"),
        ("TEE", "west", "transfer_in_transit", 3, 0, 3, "bo"),
        ("MUG", "west", "transfer_in", 6, 4, -6, "cy"),
        ("MUG", "west", "write_off", 1, 0, 0, "cy"),
        ("MUG", "west", "write_off", 1, 0, 0, "cy"),
        ("TEE", "west", "transfer_in", 3, 3, -3, "cy"),
    ]
    assert (await inventory.reasons(transfer))[4:7] == [
        "transfer from east: 4 of 6 received (1 damaged, 1 missing)",
        "damaged in transit from east",
        "missing: lost in transit from east",
    ]
    sent = await inventory.sent("StockTransferred", "StockReceived")
    assert [(kind, key) for kind, key, _ in sent] == [
        ("StockTransferred", transfer),
        ("StockTransferred", transfer),
        ("StockReceived", "MUG"),
        ("StockReceived", "TEE"),
    ]
    on_the_way, arrived = sent[0][2], sent[1][2]
    assert (on_the_way["status"], on_the_way["from_warehouse"], on_the_way["to_warehouse"]) == (
        "dispatched",
        "east",
        "west",
    )
    assert on_the_way["lines"] == [
        {"sku": "MUG", "quantity": 6, "received": None, "damaged": None},
        {"sku": "TEE", "quantity": 3, "received": None, "damaged": None},
    ]
    assert arrived["status"] == "received"
    assert arrived["lines"] == [
        {"sku": "MUG", "quantity": 6, "received": 4, "damaged": 1},
        {"sku": "TEE", "quantity": 3, "received": 3, "damaged": 0},
    ]
    assert [
        (b["sku"], b["warehouse"], b["quantity"], b["on_hand"], b["reference"], b["actor"])
        for _, _, b in sent[2:]
    ] == [("MUG", "west", 4, 4, transfer, "cy"), ("TEE", "west", 3, 4, transfer, "cy")]
    assert (await client.get(f"/transfers/{transfer}")).json() == body


async def test_dispatch_and_receive_sent_again_change_nothing(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("MUG", east=10)
    transfer = await draft(client, ("MUG", 4))
    first_dispatch = await dispatch(client, transfer)

    again = await dispatch(client, transfer)

    assert again.status_code == 200
    assert again.json() == first_dispatch.json()
    assert await levels(client, "MUG") == {"east": (6, 0, 0), "west": (0, 0, 4)}
    first_receipt = await receive(client, transfer, ("MUG", 4, 0))

    repeated = await receive(client, transfer, ("MUG", 4, 0))
    late_dispatch = await dispatch(client, transfer)

    assert repeated.status_code == late_dispatch.status_code == 200
    assert repeated.json() == late_dispatch.json() == first_receipt.json()
    assert await levels(client, "MUG") == {"east": (6, 0, 0), "west": (4, 0, 0)}
    assert len(await inventory.movements(transfer)) == 3
    sent = await inventory.sent("StockTransferred", "StockReceived")
    assert [(kind, body.get("status")) for kind, _, body in sent] == [
        ("StockTransferred", "dispatched"),
        ("StockTransferred", "received"),
        ("StockReceived", None),
    ]


async def test_a_receipt_cannot_be_changed_by_sending_other_counts(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("MUG", east=10)
    transfer = await draft(client, ("MUG", 4))
    await dispatch(client, transfer)
    await receive(client, transfer, ("MUG", 4, 0))

    changed = await receive(client, transfer, ("MUG", 2, 2))

    assert changed.status_code == 409
    assert changed.json()["detail"] == (
        f"transfer {transfer} was already received with other counts (MUG: 4 received,"
        " 0 damaged); a receipt cannot be changed: correct stock with an adjustment"
    )
    assert await levels(client, "MUG") == {"east": (6, 0, 0), "west": (4, 0, 0)}


async def test_two_clerks_dispatching_at_once_move_the_stock_once(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("MUG", east=10)
    transfer = await draft(client, ("MUG", 4))

    answers = await asyncio.gather(*(dispatch(client, transfer) for _ in range(4)))

    assert [a.status_code for a in answers] == [200] * 4
    assert await levels(client, "MUG") == {"east": (6, 0, 0), "west": (0, 0, 4)}
    assert len(await inventory.sent("StockTransferred")) == 1


async def test_reserved_stock_never_leaves_so_dispatch_is_refused_naming_the_sku(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("MUG", east=5)
    await inventory.stock("TEE", east=9)
    await inventory.reserve(uuid4(), ("MUG", 3))
    transfer = await draft(client, ("MUG", 4), ("TEE", 2))

    refused = await dispatch(client, transfer)

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"transfer {transfer} cannot be dispatched: sku MUG needs 4 but 2 are available at east"
        " (5 on hand, 3 reserved). Reserved stock is never transferred: lower the quantities"
        " or wait for stock"
    )
    assert (await client.get(f"/transfers/{transfer}")).json()["status"] == "draft"
    assert await levels(client, "MUG") == {"east": (5, 3, 0)}
    assert await levels(client, "TEE") == {"east": (9, 0, 0)}
    assert await inventory.movements(transfer) == []
    assert await inventory.sent("StockTransferred") == []

    edited = await client.patch(
        f"/transfers/{transfer}", json={"lines": [{"sku": "MUG", "quantity": 2}]}
    )
    assert edited.status_code == 200
    assert (await dispatch(client, transfer)).status_code == 200
    assert await levels(client, "MUG") == {"east": (3, 3, 0), "west": (0, 0, 2)}
    assert await levels(client, "TEE") == {"east": (9, 0, 0)}


async def test_a_step_out_of_order_is_a_409_that_says_the_status(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("MUG", east=10)
    sent, dropped = await draft(client, ("MUG", 1)), await draft(client, ("MUG", 1))

    early = await receive(client, sent, ("MUG", 1, 0))
    await dispatch(client, sent)
    too_late = await client.post(f"/transfers/{sent}/cancel")
    edit_too_late = await client.patch(f"/transfers/{sent}", json={"to_warehouse": "east"})
    cancelled = await client.post(f"/transfers/{dropped}/cancel")
    cancelled_again = await client.post(f"/transfers/{dropped}/cancel")
    dispatch_cancelled = await dispatch(client, dropped)

    assert early.status_code == 409
    assert early.json()["detail"] == (
        f"transfer {sent} is draft: only a dispatched transfer can be received; dispatch it first"
    )
    assert too_late.status_code == edit_too_late.status_code == 409
    assert too_late.json()["detail"].startswith(
        f"transfer {sent} is dispatched: only a draft transfer can be cancelled;"
    )
    assert cancelled.status_code == cancelled_again.status_code == 200
    assert cancelled_again.json() == cancelled.json()
    assert (cancelled.json()["status"], cancelled.json()["cancelled_by"]) == ("cancelled", "wes")
    assert dispatch_cancelled.status_code == 409
    assert "is cancelled" in dispatch_cancelled.json()["detail"]
    assert await levels(client, "MUG") == {"east": (9, 0, 0), "west": (0, 0, 1)}


async def test_a_retried_create_returns_the_same_draft_and_a_reused_id_is_a_conflict(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    del inventory  # only for its check of the ledger after the test
    transfer_id = str(uuid4())
    body = {
        "transfer_id": transfer_id,
        "from_warehouse": "west",
        "to_warehouse": "east",
        "lines": [{"sku": "MUG", "quantity": 2}],
    }

    first = await client.post("/transfers", json=body)
    retried = await client.post("/transfers", json=body)
    reused = await client.post("/transfers", json=body | {"lines": [{"sku": "TEE", "quantity": 1}]})

    assert (first.status_code, retried.status_code) == (201, 200)
    assert retried.json() == first.json()
    assert reused.status_code == 409
    assert reused.json()["detail"] == (
        f"transfer {transfer_id} exists already (draft) with other warehouses or lines;"
        " give a new transfer_id for another transfer"
    )


async def test_invalid_requests_are_422_naming_the_field(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await inventory.stock("MUG", east=10)
    lines = [{"sku": "MUG", "quantity": 5}]
    body = {"from_warehouse": "east", "to_warehouse": "west", "lines": lines}
    transfer = await draft(client, ("MUG", 5))
    await dispatch(client, transfer)

    cases = {
        "same warehouses": await client.post("/transfers", json=body | {"to_warehouse": "east"}),
        "unknown warehouse": await client.post("/transfers", json=body | {"from_warehouse": "x"}),
        "malformed warehouse": await client.post(
            "/transfers", json=body | {"to_warehouse": "west/2"}
        ),
        "twice a sku": await client.post("/transfers", json=body | {"lines": lines * 2}),
        "an author named": await client.post("/transfers", json=body | {"created_by": "ana"}),
        "too many": await receive(client, transfer, ("MUG", 4, 2)),
        "not on it": await receive(client, transfer, ("MUG", 4, 0), ("TEE", 1, 0)),
    }

    assert {name: r.status_code for name, r in cases.items()} == dict.fromkeys(cases, 422)
    locs = {name: r.json()["detail"][0]["loc"] for name, r in cases.items()}
    assert locs == {
        "same warehouses": ["body", "to_warehouse"],
        "unknown warehouse": ["body", "from_warehouse"],
        "malformed warehouse": ["body", "to_warehouse"],
        "twice a sku": ["body", "lines", 1, "sku"],
        "an author named": ["body", "created_by"],  # who creates is the token's subject
        "too many": ["body", "lines", 0, "received"],
        "not on it": ["body", "lines", 1, "sku"],
    }
    assert cases["unknown warehouse"].json()["detail"][0]["msg"] == (
        "no warehouse 'x' (known: east, west)"
    )
    assert cases["too many"].json()["detail"][0]["msg"] == (
        "received (4) + damaged (2) is 6, more than the 5 units of sku 'MUG' dispatched"
    )
    assert await levels(client, "MUG") == {"east": (5, 0, 0), "west": (0, 0, 5)}


async def test_an_unknown_transfer_is_404_and_a_malformed_id_422(
    client: httpx.AsyncClient,
) -> None:
    unknown = uuid4()

    assert (await client.get(f"/transfers/{unknown}")).json() == {
        "detail": f"no transfer {unknown}"
    }
    assert (await dispatch(client, str(unknown))).status_code == 404
    malformed = await client.get("/transfers/not-a-uuid")
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["path", "transfer_id"]


async def test_transfers_are_listed_newest_first_page_by_page_and_filtered(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    async with inventory.service.database.transaction() as s:
        await s.execute(insert(orm.warehouses).values(code="north", name="North", priority=3))
    await inventory.stock("MUG", east=100)
    created = [await draft(client, ("MUG", 1)) for _ in range(5)]
    to_north = await draft(client, ("MUG", 1), to_warehouse="north")
    for transfer in created[:2]:
        await dispatch(client, transfer)

    pages, cursor = [], None
    while True:
        response = await client.get(
            "/transfers", params={"limit": 2} | ({"cursor": cursor} if cursor else {})
        )
        assert response.status_code == 200
        pages.append([t["transfer_id"] for t in response.json()["items"]])
        cursor = response.json()["next"]
        if cursor is None:
            break
    dispatched = await client.get("/transfers", params={"status": "dispatched"})
    north = await client.get("/transfers", params={"warehouse": "north"})

    newest_first = [to_north, *reversed(created)]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:6]]
    assert [t["transfer_id"] for t in dispatched.json()["items"]] == [created[1], created[0]]
    assert dispatched.json()["next"] is None
    assert [t["transfer_id"] for t in north.json()["items"]] == [to_north]
    for params, loc in (
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 501}, ["query", "limit"]),
        ({"cursor": "nonsense"}, ["query", "cursor"]),
        ({"status": "lost"}, ["query", "status"]),
    ):
        refused = await client.get("/transfers", params=params)
        assert refused.status_code == 422, params
        assert refused.json()["detail"][0]["loc"] == loc
