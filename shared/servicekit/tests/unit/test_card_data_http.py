"""A request with a card number anywhere (path, query, header, body) is refused with 422
naming where, never the value."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from orderly_kit.card_data_http import RejectCardNumbers

CARD = "4000 0566 5566 5556"
RULE = "looks like a card number; send the provider's token instead"


class Payment(BaseModel):
    token: str
    notes: list[str] = []


@pytest.fixture
def received() -> list[Any]:
    return []


@pytest.fixture
async def client(received: list[Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.add_middleware(RejectCardNumbers)

    @app.post("/payments")
    @app.put("/payments")
    async def pay(payment: Payment) -> dict[str, str]:
        received.append(payment)
        return {"token": payment.token}

    @app.patch("/raw")
    async def raw() -> dict[str, str]:
        received.append("raw")
        return {}

    @app.get("/payments/{ref}")
    async def look_up(ref: str, q: str | None = None) -> dict[str, str | None]:
        received.append(ref)
        return {"ref": ref, "q": q}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_a_card_number_in_the_body_is_refused_naming_the_field(
    client: httpx.AsyncClient, received: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    r = await client.post("/payments", json={"token": CARD, "notes": ["ok", CARD]})

    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {"loc": ["body", "token"], "msg": RULE, "type": "card_number"},
            {"loc": ["body", "notes", 1], "msg": RULE, "type": "card_number"},
        ]
    }
    assert received == []
    assert "4000" not in r.text + caplog.text


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_every_write_method_is_guarded(client: httpx.AsyncClient, method: str) -> None:
    path = "/payments" if method == "PUT" else "/raw"

    r = await client.request(method, path, json={"token": CARD.replace(" ", "")})

    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "token"]


async def test_a_body_that_is_not_json_is_scanned_as_text(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    r = await client.post("/payments", content=f"token={CARD}".encode())

    assert r.status_code == 422
    assert r.json()["detail"] == [{"loc": ["body"], "msg": RULE, "type": "card_number"}]
    assert received == []


async def test_a_clean_body_reaches_the_route_intact(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    r = await client.post(
        "/payments", json={"token": "tok_visa_ok", "notes": ["2026-01-31T12:00:00Z"]}
    )

    assert r.status_code == 200, r.text
    assert r.json() == {"token": "tok_visa_ok"}
    assert received == [Payment(token="tok_visa_ok", notes=["2026-01-31T12:00:00Z"])]


async def test_the_body_of_a_read_is_not_scanned(client: httpx.AsyncClient) -> None:
    r = await client.request("GET", "/payments/tok_1", content=CARD.encode())

    assert r.json() == {"ref": "tok_1", "q": None}


async def test_a_card_number_in_a_header_is_refused_naming_the_header(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    r = await client.post("/payments", json={"token": "tok_ok"}, headers={"Idempotency-Key": CARD})

    assert r.status_code == 422
    assert r.json() == {
        "detail": [{"loc": ["header", "idempotency-key"], "msg": RULE, "type": "card_number"}]
    }
    assert received == []


async def test_a_card_number_in_the_path_or_the_query_is_refused_naming_where(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    in_path = await client.get(f"/payments/{CARD}")
    in_query = await client.get("/payments/tok_1", params={"q": f"card {CARD}"})
    as_a_name = await client.get(f"/payments/tok_1?{CARD.replace(' ', '')}=1")

    assert (in_path.status_code, in_path.json()["detail"]) == (
        422,
        [{"loc": ["path"], "msg": RULE, "type": "card_number"}],
    )
    assert in_query.json()["detail"] == [
        {"loc": ["query", "q"], "msg": RULE, "type": "card_number"}
    ]
    assert as_a_name.json()["detail"][0]["loc"] == ["query", "[card number removed]"]
    assert received == []
    assert "5556" not in in_path.text + in_query.text + as_a_name.text


async def test_every_place_with_a_card_number_is_named_at_once(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/payments?memo=" + CARD.replace(" ", ""),
        json={"token": CARD},
        headers={"X-Note": CARD},
    )

    assert [e["loc"] for e in r.json()["detail"]] == [
        ["query", "memo"],
        ["header", "x-note"],
        ["body", "token"],
    ]


async def test_credentials_and_trace_context_are_not_scanned(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    # A span id of sixteen decimal digits is valid hex; a token may hold digits by chance.
    headers = {
        "Authorization": "Bearer 4000056655665556",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-4000056655665556-01",
        "X-B3-SpanId": "4000056655665556",
        "X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/4000056655665556;o=1",
    }

    r = await client.get("/payments/tok_1", headers=headers)

    assert r.status_code == 200
    assert received == ["tok_1"]


async def test_a_body_nested_too_deep_to_walk_is_scanned_as_text(
    client: httpx.AsyncClient,
) -> None:
    r = await client.patch("/raw", content="[" * 5000 + f'"{CARD}"' + "]" * 5000)

    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body"]
