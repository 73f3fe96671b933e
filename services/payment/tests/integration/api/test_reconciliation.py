"""GET /reports/reconciliation: money per UTC day, method and currency, as JSON or CSV.

Eight payments over two days (and their edges), with numbers to check by hand:

    day 1   credit_card    EUR  captures 4999 (A) + 2000 (B, at 23:59:59)
            mobile_wallet  EUR  capture 1500 (C), refunded by the saga the same day
    day 2   credit_card    EUR  capture 1200 (F, 23:30 on day 1 at UTC-2), A refunded 1000
                                by hand; F's refund by hand was rejected (not counted);
                                B charged 500 more (an exchange)
            debit_card     USD  capture 3000 (D, at 00:00:00)
    out     third_party declined (E); G captured the day after, H the day before
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:  # fixture types; test modules cannot import conftest at run time
    from services.payment.tests.integration.api.conftest import Shop

DAY1, DAY2 = date(2026, 3, 1), date(2026, 3, 2)
PERIOD = {"from": "2026-03-01", "to": "2026-03-02"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
async def books(shop: Shop, client: httpx.AsyncClient) -> dict[str, Any]:
    """The payments of the module's story, their ledger answered on the days it tells."""
    a = await shop.pay(4999)
    b = await shop.pay(2000)
    c = await shop.pay(1500, method="mobile_wallet")
    d = await shop.pay(3000, currency="USD", method="debit_card")
    await shop.pay(700, method="third_party", token="tok_decline_1")
    f = await shop.pay(1200, token="tok_refundfail_1")
    g = await shop.pay(999)
    h = await shop.pay(888)
    await shop.saga_refund(c, 1500)
    await shop.charge(b, 500)
    for order_id, amount in ((a, 1000), (f, 300)):
        response = await client.post(
            f"/payments/{order_id}/refunds",
            json={"amount": amount, "currency": "EUR", "reason": "late"},
            headers={"Idempotency-Key": f"k-{order_id}"},
        )
        assert response.status_code == 201, response.text
    # Every answer (authorizations, the decline, the rejected refund too) on day 1 at noon,
    # then the succeeded captures and refunds where the story puts them.
    await shop.sql(
        "UPDATE payment_operations SET answered_at = :t WHERE answered_at IS NOT NULL",
        t=at("2026-03-01T12:00:00+00:00"),
    )
    for order_id, kind, moment in (
        (a, "capture", "2026-03-01T10:00:00+00:00"),
        (a, "refund", "2026-03-02T09:00:00+00:00"),
        (b, "capture", "2026-03-01T23:59:59+00:00"),
        (b, "charge", "2026-03-02T08:00:00+00:00"),
        (d, "capture", "2026-03-02T00:00:00+00:00"),
        (f, "capture", "2026-03-01T23:30:00-02:00"),
        (g, "capture", "2026-03-03T00:00:00+00:00"),
        (h, "capture", "2026-02-28T23:59:59+00:00"),
    ):
        await shop.answered(order_id, kind, at(moment))
    return {"a": a}


def row(day: date, method: str, currency: str, *numbers: int) -> dict[str, Any]:
    captured, refunded, net, captures, refunds, charged, charges = numbers
    return {
        "day": day.isoformat(),
        "method": method,
        "currency": currency,
        "captured": captured,
        "refunded": refunded,
        "net": net,
        "captures": captures,
        "refunds": refunds,
        "charged": charged,
        "charges": charges,
    }


async def test_the_report_sums_succeeded_captures_charges_and_refunds_per_day_method_currency(
    books: dict[str, Any], client: httpx.AsyncClient
) -> None:
    response = await client.get("/reports/reconciliation", params=PERIOD)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "from": "2026-03-01",
        "to": "2026-03-02",
        "rows": [
            row(DAY1, "credit_card", "EUR", 6999, 0, 6999, 2, 0, 0, 0),
            row(DAY1, "mobile_wallet", "EUR", 1500, 1500, 0, 1, 1, 0, 0),
            row(DAY2, "credit_card", "EUR", 1200, 1000, 700, 1, 1, 500, 1),
            row(DAY2, "debit_card", "USD", 3000, 0, 3000, 1, 0, 0, 0),
        ],
        "totals": [
            {
                "currency": "EUR",
                "captured": 9699,
                "refunded": 2500,
                "net": 7699,
                "captures": 4,
                "refunds": 2,
                "charged": 500,
                "charges": 1,
            },
            {
                "currency": "USD",
                "captured": 3000,
                "refunded": 0,
                "net": 3000,
                "captures": 1,
                "refunds": 0,
                "charged": 0,
                "charges": 0,
            },
        ],
    }


async def test_one_day_is_a_period_too(books: dict[str, Any], client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/reports/reconciliation", params={"from": "2026-03-02", "to": "2026-03-02"}
    )

    assert [(r["day"], r["method"], r["net"]) for r in response.json()["rows"]] == [
        ("2026-03-02", "credit_card", 700),
        ("2026-03-02", "debit_card", 3000),
    ]


async def test_the_csv_has_a_header_row_and_text_cells_cannot_start_a_formula(
    books: dict[str, Any], shop: Shop, client: httpx.AsyncClient
) -> None:
    # A method as a spreadsheet would run it: the cell must stay text, the numbers numbers.
    await shop.sql("UPDATE payments SET method = '=2+5' WHERE order_id = :id", id=books["a"])

    response = await client.get("/reports/reconciliation", params={**PERIOD, "format": "csv"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="reconciliation_2026-03-01_2026-03-02.csv"'
    )
    assert response.text.splitlines() == [
        "day,method,currency,captured,refunded,net,captures,refunds,charged,charges",
        "2026-03-01,'=2+5,EUR,4999,0,4999,1,0,0,0",
        "2026-03-01,credit_card,EUR,2000,0,2000,1,0,0,0",
        "2026-03-01,mobile_wallet,EUR,1500,1500,0,1,1,0,0",
        "2026-03-02,'=2+5,EUR,0,1000,-1000,0,1,0,0",
        "2026-03-02,credit_card,EUR,1200,0,1700,1,0,500,1",
        "2026-03-02,debit_card,USD,3000,0,3000,1,0,0,0",
    ]


async def test_accept_text_csv_asks_for_csv_unless_format_says_otherwise(
    books: dict[str, Any], client: httpx.AsyncClient
) -> None:
    csv = await client.get(
        "/reports/reconciliation", params=PERIOD, headers={"Accept": "text/csv, */*;q=0.1"}
    )
    json = await client.get(
        "/reports/reconciliation",
        params={**PERIOD, "format": "json"},
        headers={"Accept": "text/csv"},
    )

    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv.text.splitlines()[1] == "2026-03-01,credit_card,EUR,6999,0,6999,2,0,0,0"
    assert json.headers["content-type"] == "application/json"


async def test_a_period_without_money_is_empty(client: httpx.AsyncClient) -> None:
    period = {"from": "2020-01-01", "to": "2020-12-31"}

    report = await client.get("/reports/reconciliation", params=period)
    csv = await client.get("/reports/reconciliation", params={**period, "format": "csv"})

    assert report.json() == {"from": "2020-01-01", "to": "2020-12-31", "rows": [], "totals": []}
    assert (
        csv.text == "day,method,currency,captured,refunded,net,captures,refunds,charged,charges\n"
    )


async def test_a_whole_leap_year_may_be_asked_for(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/reports/reconciliation", params={"from": "2024-01-01", "to": "2024-12-31"}
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"from": "2026-03-02", "to": "2026-03-01"},
            "to",
            "to (2026-03-01) must not be before from (2026-03-02)",
        ),
        (
            {"from": "2025-01-01", "to": "2026-01-02"},
            "to",
            "the period from 2025-01-01 to 2026-01-02 is 367 days; a report covers at most"
            " 366: ask for it in parts",
        ),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from", None),
        ({"from": "2026-03-01"}, "to", None),
        ({**PERIOD, "format": "xlsx"}, "format", None),
    ],
    ids=["backwards", "too-long", "no-such-day", "no-to", "unknown-format"],
)
async def test_a_bad_period_or_format_names_the_field(
    client: httpx.AsyncClient, params: dict[str, str], field: str, message: str | None
) -> None:
    response = await client.get("/reports/reconciliation", params=params)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field]
    if message is not None:
        assert error["msg"] == message
