"""A NUL or a lone surrogate in a request's path, query or JSON body is refused with 422
naming where, before any route sees it; everything else reaches the route unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from orderly_kit.unsafe_text_http import RefuseUnsafeText
from orderly_schemas.text import NUL_RULE, SURROGATE_RULE


class Customer(BaseModel):
    name: str
    notes: list[str] = []


@pytest.fixture
def received() -> list[Any]:
    return []


@pytest.fixture
async def client(received: list[Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.add_middleware(RefuseUnsafeText)

    @app.get("/orders/{ref}")
    async def lookup(ref: str, q: str | None = None) -> dict[str, str | None]:
        received.append((ref, q))
        return {"ref": ref, "q": q}

    @app.post("/customers")
    async def add(customer: Customer) -> dict[str, str]:
        received.append(customer)
        return {"name": customer.name}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_a_nul_in_the_path_is_a_422_not_a_trip_to_the_database(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    r = await client.get("/orders/%00")

    assert r.status_code == 422
    assert r.json() == {"detail": [{"type": "value_error", "loc": ["path"], "msg": NUL_RULE}]}
    assert received == []


async def test_a_nul_in_a_query_parameter_names_the_parameter(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    r = await client.get("/orders/ORD-1", params={"q": "a\x00b"})

    assert r.status_code == 422
    assert r.json()["detail"] == [{"type": "value_error", "loc": ["query", "q"], "msg": NUL_RULE}]
    assert received == []


async def test_unsafe_text_anywhere_in_a_json_body_names_each_field(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    body = '{"name": "Ada\\u0000", "notes": ["fine", "x\\ud800y"], "extra": {"k\\u0000": 1}}'

    r = await client.post("/customers", content=body, headers={"content-type": "application/json"})

    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"type": "value_error", "loc": ["body", "name"], "msg": NUL_RULE},
        {"type": "value_error", "loc": ["body", "notes", 1], "msg": SURROGATE_RULE},
        {"type": "value_error", "loc": ["body", "extra", "k\x00"], "msg": NUL_RULE},
    ]
    assert received == []


async def test_clean_requests_reach_the_route_unchanged(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    got = await client.get("/orders/ORD-1", params={"q": "größe 😀"})
    added = await client.post("/customers", json={"name": "Zoë 😀", "notes": ["a"]})

    assert (got.status_code, added.status_code) == (200, 200)
    assert received == [("ORD-1", "größe 😀"), Customer(name="Zoë 😀", notes=["a"])]


async def test_a_body_that_is_not_json_is_left_to_the_route(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    r = await client.post("/customers", content=b"not json", headers={"content-type": "text/csv"})

    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] != "value_error"
    assert received == []
