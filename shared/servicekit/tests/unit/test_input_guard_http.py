"""A request with a card number anywhere (path, query, header, body), or with a NUL or a
lone surrogate in its path, query or JSON body, is refused with 422 naming where, never
the value, before any route sees it; everything else reaches the route unchanged."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from orderly_kit import input_guard_http
from orderly_kit.input_guard_http import (
    NOT_TEXT_RULE,
    RefuseCardDataAndUnsafeText,
    _Findings,
    _nothing_to_find,
    _scan_body,
)
from orderly_schemas.text import NUL_RULE, SURROGATE_RULE

CARD = "4000 0566 5566 5556"
RULE = "looks like a card number; send the provider's token instead"


class Payment(BaseModel):
    token: str
    notes: list[str] = []


class Customer(BaseModel):
    name: str
    notes: list[str] = []


@pytest.fixture
def received() -> list[Any]:
    return []


@pytest.fixture
async def client(received: list[Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.add_middleware(RefuseCardDataAndUnsafeText)

    @app.post("/payments")
    @app.put("/payments")
    async def pay(payment: Payment) -> dict[str, str]:
        received.append(payment)
        return {"token": payment.token}

    @app.post("/imports")
    async def import_file(request: Request) -> dict[str, int]:
        received.append(await request.body())
        return {}

    @app.patch("/raw")
    async def raw() -> dict[str, str]:
        received.append("raw")
        return {}

    @app.get("/payments/{ref}")
    async def look_up(ref: str, q: str | None = None) -> dict[str, str | None]:
        received.append(ref)
        return {"ref": ref, "q": q}

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


async def test_a_json_body_that_is_not_text_is_a_422_naming_the_body(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    body = b'{"name": "\xff\xfe"}'

    r = await client.post("/customers", content=body, headers={"content-type": "application/json"})

    assert r.status_code == 422
    assert r.json() == {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": NOT_TEXT_RULE}]}
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


async def test_both_rules_name_every_place_in_one_answer(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    body = json.dumps({"name": "Ada\x00", "notes": [CARD, "ok\ud800"]})  # \u escapes

    r = await client.post(
        "/customers?q=%00",
        content=body,
        headers={"X-Note": CARD, "content-type": "application/json"},
    )

    assert r.status_code == 422
    assert [(e["type"], e["loc"]) for e in r.json()["detail"]] == [
        ("value_error", ["query", "q"]),
        ("card_number", ["header", "x-note"]),
        ("value_error", ["body", "name"]),
        ("card_number", ["body", "notes", 0]),
        ("value_error", ["body", "notes", 1]),
    ]
    assert received == []


async def test_a_json_body_sent_without_a_content_type_is_read_as_json(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    r = await client.post("/customers", content=b'{"name": "Ada\\u0000"}')

    assert r.json()["detail"] == [{"type": "value_error", "loc": ["body", "name"], "msg": NUL_RULE}]
    assert received == []


async def test_barcodes_tracking_and_phone_numbers_reach_the_route(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    notes = ["4006381333931", "9787111636618", "961234567890126", "+86 138 1234 5678"]

    ok = await client.post("/customers", json={"name": "Ada", "notes": notes})
    # The known cost: a barcode that begins like a Visa card and passes the Luhn check.
    refused = await client.post("/customers", json={"name": "Ada", "notes": ["4006381333924"]})

    assert ok.status_code == 200
    assert received == [Customer(name="Ada", notes=notes)]
    assert refused.json()["detail"] == [
        {"type": "card_number", "loc": ["body", "notes", 0], "msg": RULE}
    ]


async def post_csv(client: httpx.AsyncClient, data: bytes) -> httpx.Response:
    return await client.post("/imports", content=data, headers={"content-type": "text/csv"})


async def test_a_csv_file_names_the_row_and_column_of_each_finding(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    data = (
        b"sku,name,notes\r\n"
        b"MUG-1,Mug,fine\r\n"
        b"TEE-2,Ada\x00,4111 1111 1111 1111\r\n"
        b"\r\n"  # a blank line is no row
        b'CAP-3,"Cap, ""blue""","pay with\n5555-5555-5555-4444"\r\n'
    )

    r = await post_csv(client, data)

    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"type": "value_error", "loc": ["body", 2, "name"], "msg": NUL_RULE},
        {"type": "card_number", "loc": ["body", 2, "notes"], "msg": RULE},
        {"type": "card_number", "loc": ["body", 3, "notes"], "msg": RULE},
    ]
    assert received == []
    assert "4111" not in r.text


async def test_a_csv_header_is_row_0_and_a_cell_past_it_is_named_by_its_place(
    client: httpx.AsyncClient,
) -> None:
    data = "sku,4111111111111111,\nA,B,,\udc80\n".encode(errors="surrogatepass")

    r = await post_csv(client, data)

    assert r.json()["detail"] == [
        {"type": "card_number", "loc": ["body", 0, 2], "msg": RULE},
        {"type": "value_error", "loc": ["body", 1, 4], "msg": SURROGATE_RULE},
    ]


async def test_a_clean_csv_file_reaches_the_route_as_it_was_sent(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    data = "\ufeffsku,name\n4006381333931,Stabilo\n9787111636618,Book\nX,+86 138 1234 5678\n"

    r = await post_csv(client, data.encode())

    assert r.status_code == 200
    assert received == [data.encode()]


async def test_a_csv_file_is_read_no_further_than_its_last_finding(
    client: httpx.AsyncClient,
) -> None:
    # A cell larger than the csv module reads (128 KiB) after the finding: not read.
    data = ("sku,name\nS-1,a\x00\nS-2," + "x" * 200_000 + "\n").encode()

    r = await post_csv(client, data)

    assert r.json()["detail"] == [
        {"type": "value_error", "loc": ["body", 1, "name"], "msg": NUL_RULE}
    ]


async def test_a_csv_file_that_is_not_utf_8_is_scanned_as_text(
    client: httpx.AsyncClient, received: list[Any]
) -> None:
    data = "name,notes\nZoë,4111111111111111\n".encode("latin-1")

    r = await post_csv(client, data)

    assert r.json()["detail"] == [{"type": "card_number", "loc": ["body"], "msg": RULE}]


async def test_a_csv_file_with_a_finding_in_every_row_is_read_no_further_than_fifty(
    client: httpx.AsyncClient,
) -> None:
    data = ("sku,name\n" + "".join(f"S-{n},a\x00\n" for n in range(100_000))).encode()

    r = await post_csv(client, data)

    detail = r.json()["detail"]
    assert [e["loc"] for e in detail[:2]] == [["body", 1, "name"], ["body", 2, "name"]]
    assert detail[49]["loc"] == ["body", 50, "name"]
    assert detail[50:] == [
        {
            "type": "too_many_errors",
            "loc": [],
            "msg": "more errors not listed: correct these and send again",
        }
    ]


async def test_a_json_body_with_many_findings_lists_fifty_and_counts_the_rest(
    client: httpx.AsyncClient,
) -> None:
    body = json.dumps({"name": "Ada", "notes": ["a\x00"] * 1000})

    r = await client.post("/customers", content=body, headers={"content-type": "application/json"})

    detail = r.json()["detail"]
    assert len(detail) == 51
    assert detail[-1]["msg"] == "950 more error(s) not listed: correct these and send again"


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every text that json.loads parses, whoever calls it (the guard, or FastAPI)."""
    texts: list[object] = []
    loads = json.loads

    def counting_loads(s: Any, **kwargs: Any) -> Any:
        texts.append(s)
        return loads(s, **kwargs)

    monkeypatch.setattr(json, "loads", counting_loads)
    return texts


async def test_a_json_body_is_parsed_once_by_the_guard_and_once_by_the_route(
    client: httpx.AsyncClient, parsed: list[object]
) -> None:
    # 13 digits in a row: the guard must walk the body to tell a barcode from a card.
    body = json.dumps({"name": "Ada", "notes": ["4006381333931"]}).encode()

    r = await client.post("/customers", content=body, headers={"content-type": "application/json"})

    assert r.status_code == 200
    assert parsed == [body, body]


async def test_a_body_that_cannot_hold_anything_refused_is_parsed_by_the_route_alone(
    client: httpx.AsyncClient, parsed: list[object]
) -> None:
    notes = ["DEMO-0019", "+49 30 1234 5678", "2026-01-31T12:00:00.123456Z", "Zoë"]
    body = json.dumps({"name": "Ada", "notes": notes}).encode()

    r = await client.post("/customers", content=body, headers={"content-type": "application/json"})

    assert r.status_code == 200
    assert parsed == [body]


# Pieces of text built to mislead a look at the bytes: card numbers whole, spaced and
# split by escapes; barcodes; letters, escapes and quotes around digits; NULs and
# surrogates, raw and escaped.
PIECES = [
    "4111 1111 1111 1111",
    "4111111111111111",
    "4006381333924",
    "4006381333931",
    "411111",
    "1111111111",
    "12",
    "0",
    " ",
    "-",
    "x",
    "é",
    "—",
    "😀",
    "\x00",
    "\ud800",
    "\n",
    "\t",
    '"',
    "\\",
    "tok_",
    "12345678-1234-1234-1234-123456789012",
    "+86 138 1234 5678",
]


def misleading_bodies(rng: random.Random) -> Iterator[bytes]:
    value = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 8)))
    document = rng.choice([{"k": value}, [1, value], {value: 1}, {"n": rng.randrange(10**19)}])
    yield json.dumps(document).encode()  # non-ASCII as \u escapes
    yield json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    # A digit, a space or a dash escaped (a JSON string may spell any character so).
    escaped = re.sub(
        rb"[0-9 -]",
        lambda m: b"\\u%04x" % m.group()[0] if rng.random() < 0.2 else m.group(),
        json.dumps(document).encode(),
    )
    yield escaped
    yield escaped.decode().encode("utf-16")
    # As a CSV file: quoted, raw NULs and surrogates, a card number split across cells.
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["sku", value[:5]])
    writer.writerow([value, rng.choice(PIECES), "4111"])
    writer.writerow(["1111 1111 1111", value[::-1]])
    yield table.getvalue().encode("utf-8", "surrogatepass")


def test_a_body_let_through_unparsed_holds_nothing_that_either_rule_finds() -> None:
    rng = random.Random(12)
    let_through = refused = 0

    for _ in range(1000):
        for body in misleading_bodies(rng):
            for kind in ("json", "csv", "text"):
                found = _Findings()
                _scan_body(found, body, kind)
                if _nothing_to_find(body):
                    assert found.listed == [], (body, kind)
                    let_through += 1
                refused += bool(found)

    # Both cases were tried, many times.
    assert (let_through > 1000, refused > 1000) == (True, True), (let_through, refused)


async def test_a_large_body_is_scanned_off_the_event_loop(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanned_in: list[str] = []
    scan = input_guard_http._in_body

    def recording(*args: Any) -> None:
        scanned_in.append(threading.current_thread().name)
        scan(*args)

    monkeypatch.setattr(input_guard_http, "_in_body", recording)
    rows = b"".join(b"SKU-%d,Mug,fine\r\n" % n for n in range(30_000))
    large = b"sku,name,notes\r\n" + rows + b"LAST,Ada\x00,\r\n"
    assert len(large) > input_guard_http.SCANNED_IN_A_THREAD

    small = await post_csv(client, b"sku,name,notes\r\nA,Ada\x00,\r\n")
    big = await post_csv(client, large)

    assert [e["loc"] for e in small.json()["detail"]] == [["body", 1, "name"]]
    assert [e["loc"] for e in big.json()["detail"]] == [["body", 30_001, "name"]]
    loop_thread = threading.current_thread().name
    assert scanned_in[0] == loop_thread
    assert scanned_in[1] != loop_thread  # a worker's: the loop served others meanwhile
