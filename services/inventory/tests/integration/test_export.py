"""The movement export over a period, as an ERP connector pulls it: CSV or JSON, streamed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from orderly_inventory.bootstrap import build
from orderly_inventory.domain.ledger import Movement, MovementKind
from orderly_inventory.entrypoints.cli import export_movements
from orderly_inventory.settings import InventorySettings
from orderly_inventory.use_cases import ledger

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory

MARCH_1 = datetime(2026, 3, 1, tzinfo=UTC)
PERIOD = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-03T00:00:00Z"}
HEADER = (
    "id,occurred_at,sku,warehouse,kind,quantity,on_hand_delta,reserved_delta,in_transit_delta,"
    "reason,reference,actor"
)


async def move(inventory: Inventory, at: datetime, *movements: Movement) -> None:
    async with inventory.service.messaging.unit_of_work() as uow:
        await ledger.move(uow, movements, at=at)


def opening(sku: str, warehouse: str, units: int) -> Movement:
    return Movement(
        sku=sku,
        warehouse=warehouse,
        kind=MovementKind.OPENING,
        quantity=units,
        on_hand=units,
        reason="opening stock",
        actor="erp-import",
    )


@pytest.fixture
async def march(inventory: Inventory) -> Inventory:
    """Movements just before, during and just after 1-2 March 2026."""
    await move(inventory, MARCH_1 - timedelta(seconds=1), opening("MUG", "east", 10))
    await move(inventory, MARCH_1 + timedelta(hours=9), opening("MUG", "west", 5))
    await move(
        inventory,
        MARCH_1 + timedelta(days=1, hours=8),
        Movement(
            sku="MUG",
            warehouse="east",
            kind=MovementKind.ADJUSTMENT,
            quantity=2,
            on_hand=-2,
            reason='dropped, "cracked", binned',
            reference="TICKET-1",
            actor="ops-jane",
        ),
    )
    await move(inventory, MARCH_1 + timedelta(days=2), opening("TEE", "east", 1))  # excluded
    return inventory


async def ids(client: httpx.AsyncClient) -> list[int]:
    return [m["id"] for m in (await client.get("/movements")).json()["items"]]


async def test_a_period_is_exported_as_csv_with_a_header_in_id_order(
    march: Inventory, client: httpx.AsyncClient
) -> None:
    _, west, adjusted, _ = await ids(client)

    response = await client.get("/movements/export", params=PERIOD)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="movements_20260301T000000+0000_20260303T000000+0000.csv"'
    )
    assert response.text.splitlines() == [
        HEADER,
        f"{west},2026-03-01T09:00:00Z,MUG,west,opening,5,5,0,0,opening stock,,erp-import",
        f'{adjusted},2026-03-02T08:00:00Z,MUG,east,adjustment,2,-2,0,0,"dropped, ""cracked"",'
        ' binned",TICKET-1,ops-jane',
    ]


async def test_json_and_filters_select_the_same_movements(
    march: Inventory, client: httpx.AsyncClient
) -> None:
    in_berlin = {"from": "2026-03-01T01:00:00+01:00", "to": "2026-03-03T01:00:00+01:00"}

    everything = await client.get("/movements/export", params=in_berlin | {"format": "json"})
    east = await client.get("/movements/export", params=PERIOD | {"warehouse": "east"})
    tee = await client.get("/movements/export", params=PERIOD | {"sku": "TEE"})

    body: list[dict[str, Any]] = everything.json()
    assert [(m["sku"], m["warehouse"], m["kind"]) for m in body] == [
        ("MUG", "west", "opening"),
        ("MUG", "east", "adjustment"),
    ]
    assert body[1] | {"id": 0} == {
        "id": 0,
        "occurred_at": "2026-03-02T08:00:00Z",
        "sku": "MUG",
        "warehouse": "east",
        "kind": "adjustment",
        "quantity": 2,
        "on_hand_delta": -2,
        "reserved_delta": 0,
        "in_transit_delta": 0,
        "reason": 'dropped, "cracked", binned',
        "reference": "TICKET-1",
        "actor": "ops-jane",
    }
    assert [row["kind"] for row in csv.DictReader(io.StringIO(east.text))] == ["adjustment"]
    assert tee.text.splitlines() == [HEADER]


async def test_thousands_of_movements_stream_out_whole(
    inventory: Inventory, client: httpx.AsyncClient
) -> None:
    await move(inventory, MARCH_1, *(opening(f"SKU-{n:04d}", "east", n + 1) for n in range(1_200)))

    csv_rows = await client.get("/movements/export", params=PERIOD)
    json_rows = await client.get("/movements/export", params=PERIOD | {"format": "json"})

    exported = list(csv.DictReader(io.StringIO(csv_rows.text)))
    assert len(exported) == len(json_rows.json()) == 1_200
    assert [int(r["id"]) for r in exported] == sorted(int(r["id"]) for r in exported)
    assert exported[-1]["sku"] == "SKU-1199"


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": PERIOD["from"]}, "to", "Field required"),
        (PERIOD | {"from": "2026-03-01T00:00:00"}, "from", "must be timezone-aware"),
        (PERIOD | {"to": PERIOD["from"]}, "to", "must be after from"),
        (PERIOD | {"to": "2026-07-01T00:00:00Z"}, "to", "the period may be at most 93 days"),
        (PERIOD | {"format": "xml"}, "format", "Input should be 'csv' or 'json'"),
    ],
    ids=["no-end", "naive", "backwards", "too-long", "xml"],
)
async def test_a_bad_period_or_format_is_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, str], field: str, message: str
) -> None:
    response = await client.get("/movements/export", params=params)

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["query", field]
    assert message in error["msg"]


async def test_an_unknown_warehouse_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/movements/export", params=PERIOD | {"warehouse": "north"})

    assert (response.status_code, response.json()) == (404, {"detail": "no warehouse 'north'"})


async def test_the_cli_writes_the_same_export_to_stdout(
    march: Inventory,
    client: httpx.AsyncClient,
    fresh_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = (await client.get("/movements/export", params=PERIOD)).text

    def cli() -> Any:
        return build(InventorySettings(database_url=fresh_database, log_json=False))

    code = await export_movements(cli(), ["--from", PERIOD["from"], "--to", PERIOD["to"]])
    out = capsys.readouterr().out
    backwards = await export_movements(cli(), ["--from", PERIOD["to"], "--to", PERIOD["from"]])

    assert code == 0
    assert out == expected
    assert backwards == 2
    assert "error: --to: to (2026-03-01T00:00:00+00:00) must be after from" in (
        capsys.readouterr().err
    )
