"""Every 422 is FastAPI's shape, and echoes at most a short excerpt of what was sent.

The app here has what ``build_service`` gives every service's app: the kit's handler of
RequestValidationError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from orderly_kit.card_data import MARKER
from orderly_kit.http_errors import (
    EXCERPT_CHARS,
    MAX_ERRORS,
    document_guards,
    invalid,
    refuse_invalid,
)

CARD = "4000056655665556"


class Line(BaseModel):
    sku: str = Field(max_length=64)
    quantity: int


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(max_length=500)
    lines: list[Line]
    currency: str


@pytest.fixture
def app() -> FastAPI:
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, refuse_invalid)

    @app.post("/orders")
    async def place(order: Order) -> dict[str, str]:
        return {"note": order.note}

    @app.get("/kpis")
    async def kpis(until: str) -> dict[str, str]:
        raise invalid(("query", "until"), "must be later than since", until)

    @app.get("/warehouses")
    async def warehouses() -> list[str]:
        return ["WH-BER"]

    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def order(**fields: Any) -> dict[str, Any]:
    return {"note": "ring twice", "lines": [{"sku": "MUG", "quantity": 1}], "currency": "EUR"} | (
        fields
    )


async def test_a_long_value_is_echoed_as_a_short_excerpt_marked_as_cut(
    client: httpx.AsyncClient,
) -> None:
    note = "x" * 100_000

    r = await client.post("/orders", json=order(note=note))

    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {
                "type": "string_too_long",
                "loc": ["body", "note"],
                "msg": "String should have at most 500 characters",
                "input": "x" * EXCERPT_CHARS + "…",
                "input_cut": True,
                "ctx": {"max_length": 500},
            }
        ]
    }
    assert len(r.content) < 400


async def test_a_missing_field_does_not_echo_the_whole_object_around_it(
    client: httpx.AsyncClient,
) -> None:
    lines = [{"sku": f"SKU-{n}", "quantity": n} for n in range(100_000)]  # some 3 MB
    body = order(lines=lines)
    del body["currency"]

    r = await client.post("/orders", json=body)

    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert (error["type"], error["loc"], error["input_cut"]) == (
        "missing",
        ["body", "currency"],
        True,
    )
    assert error["input"].startswith('{"note":"ring twice","lines":[{"sku":"SKU-0","quantity":0}')
    assert len(error["input"]) == EXCERPT_CHARS + 1
    assert len(r.content) < 500


async def test_a_short_value_is_echoed_as_it_is(client: httpx.AsyncClient) -> None:
    r = await client.post("/orders", json=order(lines=[{"sku": "MUG", "quantity": "two"}]))

    [error] = r.json()["detail"]
    assert (error["loc"], error["input"]) == (["body", "lines", 0, "quantity"], "two")
    assert "input_cut" not in error


async def test_an_excerpt_never_holds_a_card_number(client: httpx.AsyncClient) -> None:
    r = await client.post("/orders", json=order(lines=[{"sku": "MUG", "quantity": f"{CARD} x"}]))

    [error] = r.json()["detail"]
    assert error["input"] == f"{MARKER} x"
    assert CARD not in r.text


async def test_many_errors_are_listed_up_to_a_limit_the_last_entry_counting_the_rest(
    client: httpx.AsyncClient,
) -> None:
    lines = [{"sku": "MUG", "quantity": "many"}] * 10_000

    r = await client.post("/orders", json=order(lines=lines))

    detail = r.json()["detail"]
    assert len(detail) == MAX_ERRORS + 1
    assert detail[-1] == {
        "type": "too_many_errors",
        "loc": [],
        "msg": f"{10_000 - MAX_ERRORS} more error(s) not listed: correct these and send again",
    }
    assert len(r.content) < 10_000


async def test_an_unknown_field_with_a_long_name_is_named_by_an_excerpt(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/orders", json=order(**{"k" * 10_000: 1}))

    [error] = r.json()["detail"]
    assert error["type"] == "extra_forbidden"
    assert error["loc"] == ["body", "k" * EXCERPT_CHARS + "…"]


async def test_a_routes_own_check_answers_in_the_same_shape(client: httpx.AsyncClient) -> None:
    r = await client.get("/kpis", params={"until": "2026-03-01"})

    assert (r.status_code, r.json()) == (
        422,
        {
            "detail": [
                {
                    "type": "value_error",
                    "loc": ["query", "until"],
                    "msg": "must be later than since",
                    "input": "2026-03-01",
                }
            ]
        },
    )


async def test_the_openapi_document_names_the_guards_answers_in_their_shapes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    schema = document_guards(app.openapi())
    cut = await client.post("/orders", json=order(note="x" * 1000))

    place = schema["paths"]["/orders"]["post"]["responses"]
    listing = schema["paths"]["/warehouses"]["get"]["responses"]
    assert {"413", "408", "422"} <= set(place)
    assert "422" in listing
    assert "413" not in listing
    documented = place["422"]["content"]["application/json"]["schema"]
    jsonschema.validate(cut.json(), {**documented, "components": schema["components"]})
    item = schema["components"]["schemas"]["ValidationError"]
    assert item["properties"]["input_cut"]["type"] == "boolean"
