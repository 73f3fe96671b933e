"""ERP imports over HTTP and the CLI: products and opening stock, from CSV and JSON.

A file is applied all or nothing: a bad one is answered with every rejected row, in
the kit's one 422 shape, and leaves the database as it was; the same good file imported
twice moves stock once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx
import pytest

from orderly_inventory.bootstrap import build
from orderly_inventory.entrypoints.cli import import_products, import_stock
from orderly_inventory.settings import InventorySettings
from orderly_kit.card_data import RULE
from orderly_schemas.text import NUL_RULE

if TYPE_CHECKING:  # fixtures' types; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory, Staff

CSV = {"Content-Type": "text/csv"}
PRODUCTS = (
    "sku,name,description,unit_cost,currency,default_safety_stock\n"
    "MUG-001,Enamel mug,Blue enamel mug 350 ml,450,EUR,20\n"
    "TEE-002,Logo tee,,,,0\n"
)
STOCK = (
    "sku,warehouse,on_hand,safety_stock\nMUG-001,east,120,25\nMUG-001,west,40,\nTEE-002,east,7,\n"
)


async def post_csv(client: httpx.AsyncClient, path: str, text: str) -> httpx.Response:
    return await client.post(path, content=text.encode(), headers=CSV)


def rejected(response: httpx.Response) -> list[tuple[int, str, Any, int | None]]:
    """Each rejected field of an import's 422: (row, field, value sent, line in the CSV)."""
    assert response.status_code == 422
    return [
        (e["loc"][1], e["loc"][2], e.get("input"), e.get("ctx", {}).get("line"))
        for e in response.json()["detail"]
    ]


def reasons(response: httpx.Response) -> dict[tuple[int, str], str]:
    return {(e["loc"][1], e["loc"][2]): e["msg"] for e in response.json()["detail"]}


async def products_listed(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/products", params={"limit": 500})
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_products_csv_creates_products_and_the_same_file_again_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    first = await post_csv(client, "/imports/products", PRODUCTS)
    again = await post_csv(client, "/imports/products", PRODUCTS)

    assert first.status_code == 200
    assert first.json() == {"rows": 2, "created": 2, "updated": 0, "unchanged": 0}
    assert again.json() == {"rows": 2, "created": 0, "updated": 0, "unchanged": 2}
    mug = (await client.get("/products/MUG-001")).json()
    assert {k: mug[k] for k in ("name", "description", "unit_cost", "currency")} == {
        "name": "Enamel mug",
        "description": "Blue enamel mug 350 ml",
        "unit_cost": 450,
        "currency": "EUR",
    }
    assert mug["default_safety_stock"] == 20
    tee = (await client.get("/products/TEE-002")).json()
    assert (tee["description"], tee["unit_cost"], tee["currency"]) == (None, None, None)


async def test_a_products_json_array_replaces_what_the_erp_changed(
    client: httpx.AsyncClient,
) -> None:
    await post_csv(client, "/imports/products", PRODUCTS)
    changed = [
        {"sku": "MUG-001", "name": "Enamel mug", "unit_cost": 475, "currency": "EUR"},
        {"sku": "TEE-002", "name": "Logo tee"},
        {"sku": "CAP-003", "name": "Cap", "default_safety_stock": 5},
    ]

    response = await client.post("/imports/products", json=changed)

    assert response.status_code == 200
    assert response.json() == {"rows": 3, "created": 1, "updated": 1, "unchanged": 1}
    mug = (await client.get("/products/MUG-001")).json()
    # Every field comes from the file: the description the row left out is gone.
    assert (mug["unit_cost"], mug["description"], mug["default_safety_stock"]) == (475, None, 0)


async def test_a_bad_products_file_reports_every_rejected_row_and_imports_nothing(
    client: httpx.AsyncClient,
) -> None:
    text = (
        "sku,name,unit_cost,currency,default_safety_stock\n"
        "GOOD-1,Good,100,EUR,1\n"
        "-bad,Bad sku,,,\n"
        "NEG-1,Negative,-5,EUR,\n"
        "NOCUR-1,No currency,100,,\n"
        "GOOD-1,Again,100,EUR,1\n"
        "LOW-1,Lower currency,100,eur,2.5\n"
    )

    response = await post_csv(client, "/imports/products", text)

    assert rejected(response) == [
        (2, "sku", "-bad", 3),
        (3, "unit_cost", "-5", 4),
        (4, "currency", None, 5),
        (5, "sku", "GOOD-1", 6),
        (6, "currency", "eur", 7),
        (6, "default_safety_stock", "2.5", 7),
    ]
    why = reasons(response)
    assert why[3, "unit_cost"] == "Input should be greater than or equal to 0"
    assert why[4, "currency"] == (
        "required with unit_cost: the ISO 4217 code of its currency (EUR)"
    )
    assert why[5, "sku"] == (
        "sku 'GOOD-1' appears again (first on row 1): each may appear once in a file"
    )
    assert await products_listed(client) == []


async def test_a_card_number_or_a_nul_in_a_csv_file_is_refused_by_row_and_column_unread(
    client: httpx.AsyncClient,
) -> None:
    text = (
        "sku,name,description\n"
        "MUG-001,Enamel mug,paid with 4111 1111 1111 1111\n"
        "\n"  # a blank line is no row, here as for the import's own report
        "TEE-002,Logo\x00tee,\n"
    )
    stock = "sku,warehouse,on_hand\nMUG-001,ea\x00st,3\n"

    products = await post_csv(client, "/imports/products", text)
    opening = await post_csv(client, "/imports/opening-stock", stock)

    assert products.status_code == 422
    assert products.json()["detail"] == [
        {"type": "card_number", "loc": ["body", 1, "description"], "msg": RULE},
        {"type": "value_error", "loc": ["body", 2, "name"], "msg": NUL_RULE},
    ]
    assert "4111" not in products.text
    assert [e["loc"] for e in opening.json()["detail"]] == [["body", 1, "warehouse"]]
    assert await products_listed(client) == []


async def test_barcodes_tracking_and_phone_numbers_in_a_csv_file_are_imported(
    client: httpx.AsyncClient,
) -> None:
    text = (
        "sku,name,description\n"
        "4006381333931,Highlighter,EAN-13 of a German maker\n"
        "9787111636618,Book,ISBN; supplier +86 138 1234 5678\n"
        "CRATE-1,Crate,inbound on tracking 961234567890126\n"
    )

    response = await post_csv(client, "/imports/products", text)

    assert response.status_code == 200
    assert response.json()["created"] == 3
    assert {p["sku"] for p in await products_listed(client)} == {
        "4006381333931",
        "9787111636618",
        "CRATE-1",
    }


async def test_json_rows_are_typed_and_unknown_fields_are_named(
    client: httpx.AsyncClient,
) -> None:
    rows = [
        {"sku": "A-1", "name": "A", "unit_cost": "100", "currency": "EUR"},
        {"sku": "B-1", "name": "B", "colour": "red"},
        ["C-1", "C"],
        {"sku": "D-1", "name": "D", "default_safety_stock": True},
    ]

    response = await client.post("/imports/products", json=rows)

    assert [(row, field, line) for row, field, _, line in rejected(response)] == [
        (1, "unit_cost", None),
        (2, "colour", None),
        (3, "(row)", None),
        (4, "default_safety_stock", None),
    ]
    assert reasons(response)[2, "colour"].startswith("unknown field; the fields are sku")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "detail"),
    [
        (b"sku,name,colour\nA,B,red\n", "text/csv", 422, "unknown column(s) 'colour'"),
        (b"sku,description\nA,B\n", "text/csv", 422, "lacks the required column(s) name"),
        (b"", "text/csv", 422, "the file is empty"),
        (b'{"sku": "A"}', "application/json", 422, "a JSON import is an array of row objects"),
        (b"[{", "application/json", 422, "not valid JSON"),
        (b"sku,name\n\xff\xfe,x\n", "text/csv", 422, "not UTF-8"),
        (b"sku,name\nA,B\n", "application/xml", 415, "send the file as text/csv or"),
    ],
    ids=["unknown-column", "missing-column", "empty", "json-object", "bad-json", "latin1", "xml"],
)
async def test_a_file_that_cannot_be_read_is_refused_as_a_whole(
    client: httpx.AsyncClient, body: bytes, content_type: str, status: int, detail: str
) -> None:
    response = await client.post(
        "/imports/products", content=body, headers={"Content-Type": content_type}
    )

    assert response.status_code == status
    if status == 422:  # the kit's one shape, naming the body as a whole
        [error] = response.json()["detail"]
        assert error["loc"] == ["body"]
        assert detail in error["msg"]
    else:
        assert detail in response.json()["detail"]


async def test_too_many_bytes_or_rows_is_a_413_that_says_to_split_the_file(
    fresh_database: str, inventory: Inventory, staff: Staff
) -> None:
    capped = build(
        InventorySettings(
            database_url=fresh_database, log_json=False, import_max_bytes=200, import_max_rows=3
        )
    )
    transport = httpx.ASGITransport(app=capped.http)
    many_rows = "sku,name\n" + "".join(f"S-{n},Item {n}\n" for n in range(4))
    big = "sku,name,description\n" + f"A,B,{'x' * 300}\n"
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://inventory", headers=staff("wes")
        ) as c:
            rows = await post_csv(c, "/imports/products", many_rows)
            size = await post_csv(c, "/imports/products", big)
            three = await post_csv(c, "/imports/products", many_rows.rsplit("S-3", 1)[0])
    finally:
        await capped.database.dispose()

    assert rows.status_code == 413
    assert rows.json()["detail"] == (
        "the file has more than 3 rows, the most one import takes (INVENTORY_IMPORT_MAX_ROWS):"
        " split it into several files"
    )
    assert size.status_code == 413
    assert "larger than 200 bytes" in size.json()["detail"]
    assert three.json()["created"] == 3


async def test_a_file_larger_than_any_other_request_may_be_is_imported_within_its_own_limit(
    client: httpx.AsyncClient,
) -> None:
    rows = [{"sku": f"PAD-{n}", "name": "Notepad", "description": "d" * 1900} for n in range(1000)]
    data = json.dumps(rows).encode()
    assert len(data) > 1024 * 1024  # more than any other request may send (HTTP_MAX_BODY_BYTES)

    response = await client.post(
        "/imports/products", content=data, headers={"content-type": "application/json"}
    )

    assert (response.status_code, response.json()["created"]) == (200, 1000)


async def test_opening_stock_is_an_opening_movement_once_even_when_imported_twice(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await post_csv(client, "/imports/products", PRODUCTS)

    first = await post_csv(client, "/imports/opening-stock?reference=ERP-BATCH-7", STOCK)
    again = await post_csv(client, "/imports/opening-stock?reference=ERP-BATCH-7", STOCK)

    assert first.status_code == 200
    assert first.json() == {
        "rows": 3,
        "levels_created": 3,
        "movements": 3,
        "safety_stock_changed": 0,
        "unchanged": 0,
    }
    assert again.json() == {
        "rows": 3,
        "levels_created": 0,
        "movements": 0,
        "safety_stock_changed": 0,
        "unchanged": 3,
    }
    assert await inventory.movements_of("MUG-001") == [
        ("opening", "east", 120, 0, "wes"),
        ("opening", "west", 40, 0, "wes"),
    ]
    # A level the import creates takes the row's safety stock, or its product's default.
    east, west = await inventory.level("MUG-001", "east"), await inventory.level("MUG-001", "west")
    assert (east or {}).get("safety_stock") == 25
    assert (west or {}).get("safety_stock") == 20
    listed = await client.get("/movements", params={"reference": "ERP-BATCH-7"})
    assert len(listed.json()["items"]) == 3


async def test_a_json_stock_file_corrects_an_opening_balance_nothing_else_has_moved(
    inventory: Inventory, client: httpx.AsyncClient, staff: Staff
) -> None:
    await post_csv(client, "/imports/products", PRODUCTS)
    await post_csv(client, "/imports/opening-stock", STOCK)

    response = await client.post(
        "/imports/opening-stock",
        json=[{"sku": "MUG-001", "warehouse": "east", "on_hand": 100}],
        headers=staff("erp-connector"),  # the connector's token names it
    )

    assert response.status_code == 200
    assert response.json()["movements"] == 1
    assert (await inventory.movements_of("MUG-001"))[-1] == (
        "opening",
        "east",
        -20,
        0,
        "erp-connector",
    )
    assert await inventory.levels("MUG-001") == {"east": (100, 0), "west": (40, 0)}


async def test_a_bad_stock_file_reports_every_rejected_row_and_changes_no_stock(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await post_csv(client, "/imports/products", PRODUCTS)
    await post_csv(client, "/imports/opening-stock", STOCK)
    await inventory.reserve(uuid4(), ("TEE-002", 2))  # TEE-002 at east has moved since
    before = await inventory.movements_of("MUG-001"), await inventory.movements_of("TEE-002")
    text = (
        "sku,warehouse,on_hand,safety_stock\n"
        "MUG-001,east,130,\n"  # fine on its own
        "MUG-001,north,5,\n"  # no such warehouse
        "NOPE-9,west,5,\n"  # no such product
        "TEE-002,east,9,\n"  # reserved since: opening stock can no longer set it
        "TEE-002,west,-1,\n"  # negative
        "MUG-001,east,1,\n"  # the same level twice
        "TEE-002,east,7,3\n"  # the same level twice, but equal to what is there
    )

    response = await post_csv(client, "/imports/opening-stock", text)

    assert [(row, field, value) for row, field, value, _ in rejected(response)] == [
        (2, "warehouse", "north"),
        (3, "sku", "NOPE-9"),
        (4, "on_hand", "9"),
        (5, "on_hand", "-1"),
        (6, "sku,warehouse", "MUG-001 east"),
        (7, "sku,warehouse", "TEE-002 east"),
    ]
    why = list(reasons(response).values())
    assert why[0] == "no warehouse 'north': add it first (POST /warehouses)"
    assert why[1] == "no product has sku 'NOPE-9': import it first (POST /imports/products)"
    assert why[2] == (
        "sku 'TEE-002' at warehouse 'east' has 7 on hand and movements other than opening"
        " stock already, so opening stock can no longer set it to 9: correct it with a"
        " stock-take or an adjustment (POST /stock/TEE-002/east/adjustments)"
    )
    after = await inventory.movements_of("MUG-001"), await inventory.movements_of("TEE-002")
    assert after == before
    assert await inventory.levels("MUG-001") == {"east": (120, 0), "west": (40, 0)}
    assert await inventory.level("TEE-002", "west") is None


async def test_a_level_in_use_imported_again_unchanged_is_accepted(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await post_csv(client, "/imports/products", PRODUCTS)
    await post_csv(client, "/imports/opening-stock", STOCK)
    await inventory.reserve(uuid4(), ("MUG-001", 10))

    response = await post_csv(client, "/imports/opening-stock", STOCK)

    assert response.status_code == 200
    assert response.json()["movements"] == 0


async def test_a_safety_stock_in_the_file_raises_the_low_stock_alert_once(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await post_csv(client, "/imports/products", PRODUCTS)
    await post_csv(client, "/imports/opening-stock", STOCK)  # MUG-001 east: 120, safety 25
    raised = "sku,warehouse,on_hand,safety_stock\nMUG-001,east,120,150\nTEE-002,west,0,4\n"

    response = await post_csv(client, "/imports/opening-stock", raised)

    assert response.json()["safety_stock_changed"] == 1
    assert response.json()["levels_created"] == 1
    alerts = [
        (kind, key, b["warehouse"], b["available"], b["safety_stock"])
        for kind, key, b in await inventory.sent("LowStockDetected", "BackInStock")
    ]
    assert alerts == [
        ("LowStockDetected", "MUG-001", "east", 120, 150),
        ("LowStockDetected", "TEE-002", "west", 0, 4),
    ]
    await post_csv(client, "/imports/opening-stock", raised)  # again: no second alert
    assert len(await inventory.sent("LowStockDetected", "BackInStock")) == 2


async def test_the_cli_imports_files_and_prints_every_rejected_row(
    inventory: Inventory,
    fresh_database: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    products = tmp_path / "products.json"
    products.write_text(json.dumps([{"sku": "MUG-001", "name": "Enamel mug"}]))
    good = tmp_path / "stock.csv"
    good.write_text("sku,warehouse,on_hand\nMUG-001,east,12\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,warehouse,on_hand\nMUG-001,west,x\nMUG-001,south,1\n")

    def cli() -> Any:
        return build(InventorySettings(database_url=fresh_database, log_json=False))

    assert await import_products(cli(), [str(products)]) == 0
    assert await import_stock(cli(), [str(good), "--actor", "ops-jane"]) == 0
    assert await import_stock(cli(), [str(bad)]) == 1
    assert await import_stock(cli(), [str(tmp_path / "missing.csv")]) == 2

    out, err = capsys.readouterr()
    assert "import-products: 1 rows: 1 created, 0 updated, 0 unchanged" in out
    assert "import-stock: 1 rows: 1 levels created, 1 opening movements" in out
    assert "REJECTED row 1 (line 2) on_hand ['x']: Input should be a valid integer" in out
    assert "REJECTED row 2 (line 3) warehouse ['south']: no warehouse 'south'" in out
    assert "import: 2 of 2 row(s) rejected; nothing was imported" in out
    assert "cannot read" in err
    assert await inventory.movements_of("MUG-001") == [("opening", "east", 12, 0, "ops-jane")]
