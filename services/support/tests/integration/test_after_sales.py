"""The after-sales report over HTTP on a real, migrated PostgreSQL, its returns and claims fed
through the real subscribers (FastStream's in-memory broker, the kit's inbox), its cases
and feedback through the API: March 2026, with things just before and just after it.

The month: three orders confirmed (4 MUG-001 and 2 TEA-002 on its first second, 6 MUG-001,
1 KETTLE; and 100 MUG-001 a second before March, not sold in it). Returns received: a
damaged MUG pair at east, a MUG no longer needed at the warehouse named "@west", an
exchanged TEA (its replacement shipped, 2.50 € charged), a KETTLE whose exchange fell back
to a refund, three SOCKs in USD; one requested on the month's last second and received
after it, one before it. Claims: lost and reshipped with SimPost, damaged and refunded with
a carrier named like a formula, lost and refunded with none, one after the month. Cases: a
damaged one answered in an hour and resolved in ten (rated 5), a payment one answered late
and resolved in 70 hours (rated 2), a delivery one never answered, one support opened
itself and never resolved, one after the month. Feedback: 5, 2 and 5; a 1 after the month.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import httpx
import pytest
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from orderly_dev.producer import publish
from orderly_kit.auth import Role
from orderly_kit.clock import ManualClock
from orderly_kit.service import Service
from orderly_schemas import topics
from orderly_schemas.base import Money, OrderLine, StockLine
from orderly_schemas.inventory import ReturnLine
from orderly_schemas.order import OrderClaimed, OrderConfirmed, OrderDelivered
from orderly_schemas.returns import (
    ReturnCompleted,
    ReturnReceived,
    ReturnReplacementShipped,
    ReturnReplacementUnavailable,
    ReturnRequested,
)
from orderly_support.adapters.orm import inbox, returns

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.support.tests.integration.conftest import Support

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
FORMULA_CARRIER = '=HYPERLINK("http://evil.example","parcel")'


def march(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


BEFORE = datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC)
FIRST_SECOND = datetime(2026, 3, 1, tzinfo=UTC)
LAST_SECOND = datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
AFTER = datetime(2026, 4, 1, tzinfo=UTC)


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


@dataclass
class Order:
    order_id: UUID
    order_number: str
    customer_id: str
    currency: str = "EUR"


@dataclass
class Shop:
    """Publishes what the order service would, on the in-memory broker."""

    broker: KafkaBroker
    orders: int = 0
    returns: int = 0
    sent: list[Any] = field(default_factory=list)

    async def order(
        self, customer_id: str, *lines: tuple[str, int], at: datetime, currency: str = "EUR"
    ) -> Order:
        """An order confirmed at ``at`` and delivered a day later."""
        self.orders += 1
        order = Order(uuid4(), f"ORD-{self.orders:07d}", customer_id, currency)
        price = Money(amount=1000, currency=currency)
        common = self._of(order, at)
        await publish(
            self.broker,
            OrderConfirmed(
                **common,
                lines=[OrderLine(sku=sku, quantity=n, unit_price=price) for sku, n in lines],
                total=Money(amount=1000 * sum(n for _, n in lines), currency=currency),
            ),
        )
        delivered = at + timedelta(days=1)
        await publish(
            self.broker,
            OrderDelivered(**{**common, "occurred_at": delivered}, delivered_at=delivered),
        )
        return order

    def returned(
        self, order: Order, sku: str, units: int, reason: str, *, exchange: bool = False
    ) -> dict[str, Any]:
        """What every event of a new return of ``units`` of ``sku`` says."""
        self.returns += 1
        return {
            "return_id": uuid4(),
            "return_number": f"RMA-{self.returns:07d}",
            "order_id": order.order_id,
            "order_number": order.order_number,
            "customer_id": order.customer_id,
            "lines": [StockLine(sku=sku, quantity=units)],
            "reason": reason,
            "reason_text": "the customer's own words" if reason == "other" else None,
            "resolution": "exchange" if exchange else "refund",
            "replacement": [StockLine(sku=sku, quantity=units)] if exchange else [],
        }

    async def claimed(
        self, order: Order, kind: str, resolution: str, carrier: str | None, at: datetime
    ) -> None:
        await publish(
            self.broker,
            OrderClaimed(
                **self._of(order, at),
                claim_id=uuid4(),
                claim_number=f"CLM-{self.orders:07d}",
                kind=kind,
                resolution=resolution,
                carrier=carrier,
                opened_by="alice",
            ),
        )

    @staticmethod
    def _of(order: Order, at: datetime) -> dict[str, Any]:
        return {
            "order_id": order.order_id,
            "order_number": order.order_number,
            "customer_id": order.customer_id,
            "occurred_at": at,
        }


async def requested(broker: KafkaBroker, r: dict[str, Any], at: datetime) -> None:
    await publish(broker, ReturnRequested(**r, occurred_at=at))


async def received(
    broker: KafkaBroker,
    r: dict[str, Any],
    at: datetime,
    warehouse: str,
    *conditions: str,
    message_id: str | None = None,
) -> None:
    """The goods came back, one line per unit's condition (``conditions``)."""
    sku = r["lines"][0].sku
    event = ReturnReceived(
        **r,
        occurred_at=at,
        warehouse=warehouse,
        received=[ReturnLine(sku=sku, quantity=1, condition=c) for c in conditions],
    )
    await publish(broker, event, message_id=message_id)


async def completed(
    broker: KafkaBroker,
    r: dict[str, Any],
    at: datetime,
    refunded: Money,
    fee: Money,
    charged: Money | None = None,
    *,
    message_id: str | None = None,
) -> None:
    event = ReturnCompleted(
        **r, occurred_at=at, refunded=refunded, restocking_fee=fee, charged=charged
    )
    await publish(broker, event, message_id=message_id)


@pytest.fixture
async def month(
    support: Support, client: httpx.AsyncClient, consuming: KafkaBroker, clock: ManualClock
) -> None:
    """March 2026 (the module's docstring), every event fed through the subscribers."""
    shop = Shop(consuming)
    b = consuming
    o1 = await shop.order("C-ADA", ("MUG-001", 4), ("TEA-002", 2), at=FIRST_SECOND)
    o2 = await shop.order("C-BOB", ("MUG-001", 6), at=march(3))
    o3 = await shop.order("C-CID", ("KETTLE", 1), at=march(5))
    old = await shop.order("C-OLD", ("MUG-001", 100), at=BEFORE)
    socks = await shop.order("C-USA", ("SOCK", 3), at=BEFORE - timedelta(days=10), currency="USD")

    # A damaged pair of mugs; its receipt and completion delivered twice.
    r1 = shop.returned(o1, "MUG-001", 2, "damaged")
    await requested(b, r1, march(4))
    for _ in range(2):
        await received(b, r1, march(6), "east", "resellable", "damaged", message_id="r1-in")
        await completed(b, r1, march(7), eur(2598), eur(0), message_id="r1-done")
    # A mug no longer needed, to the warehouse named like a formula, a restocking fee kept.
    r2 = shop.returned(o2, "MUG-001", 1, "no_longer_needed")
    await requested(b, r2, march(5))
    await received(b, r2, march(8), "@west", "resellable")
    await completed(b, r2, march(9), eur(1199), eur(100))
    # A tea exchanged: its replacement shipped, the difference charged.
    r3 = shop.returned(o1, "TEA-002", 1, "wrong_item", exchange=True)
    await requested(b, r3, march(10))
    await publish(
        b,
        ReturnReplacementShipped(
            **r3,
            occurred_at=march(11),
            replacement_id=uuid4(),
            carrier="SimPost",
            tracking_numbers=["SP-1"],
        ),
    )
    await received(b, r3, march(12), "east", "resellable")
    await completed(b, r3, march(13), eur(0), eur(0), eur(250))
    # A kettle whose exchange fell back to a refund (its later events say 'refund').
    r4 = shop.returned(o3, "KETTLE", 1, "damaged", exchange=True)
    await requested(b, r4, march(14))
    r4_refund = {**r4, "resolution": "refund", "replacement": []}
    await publish(
        b,
        ReturnReplacementUnavailable(
            **r4_refund, occurred_at=march(15), unavailable_reason="out of stock"
        ),
    )
    await received(b, r4_refund, march(16), "east", "damaged")
    await completed(b, r4_refund, march(17), eur(4999), eur(0))
    # Socks in dollars, for another reason.
    r7 = shop.returned(socks, "SOCK", 3, "other")
    await requested(b, r7, march(19))
    await received(b, r7, march(20), "east", "resellable", "resellable", "damaged")
    await completed(
        b, r7, march(21), Money(amount=1500, currency="USD"), Money(amount=200, currency="USD")
    )
    # Requested on the month's last second, received after it; another wholly before it.
    r5 = shop.returned(o2, "MUG-001", 1, "damaged")
    await requested(b, r5, LAST_SECOND)
    await received(b, r5, AFTER, "east", "damaged")
    r6 = shop.returned(old, "MUG-001", 5, "damaged")
    await requested(b, r6, BEFORE - timedelta(days=1))
    await received(b, r6, BEFORE, "east", "damaged")
    await completed(b, r6, BEFORE, eur(5000), eur(0))

    await shop.claimed(o1, "lost", "reshipment", "SimPost", march(20))
    await shop.claimed(o2, "damaged", "refund", FORMULA_CARRIER, march(21))
    await shop.claimed(o3, "lost", "refund", None, march(22))
    await shop.claimed(old, "lost", "refund", "SimPost", AFTER)

    await cases_of_the_month(support, client, clock, (o1, o2, o3, old))


async def cases_of_the_month(
    support: Support, client: httpx.AsyncClient, clock: ManualClock, orders: tuple[Order, ...]
) -> None:
    """The cases and feedback of the module's docstring, on the service's clock."""
    o1, o2, o3, old = orders
    agent = support.agent()
    assert clock() == datetime(2026, 3, 1, 12, tzinfo=UTC)

    async def opened(customer_id: str, category: str, *, by: dict[str, str]) -> str:
        body = {"category": category, "subject": "s", "message": "m", "customer_id": customer_id}
        if by != agent:
            del body["customer_id"]
        created = await client.post("/cases", json=body, headers=by)
        assert created.status_code == 201, created.text
        return f"/cases/{created.json()['case_id']}"

    async def step(url: str, path: str, body: dict[str, Any], by: dict[str, str]) -> None:
        done = await client.post(f"{url}/{path}", json=body, headers=by)
        assert done.status_code in (200, 201), done.text

    a = await opened("C-ADA", "damaged", by=support.customer("C-ADA"))  # 4 h to answer
    b = await opened("C-BOB", "payment", by=support.customer("C-BOB"))  # 4 h to answer
    await opened("C-CID", "delivery", by=support.customer("C-CID"))  # 24 h, never answered
    await opened("C-DAN", "other", by=agent)  # support's own: answered as it opens
    clock.advance(timedelta(hours=1))
    await step(a, "messages", {"body": "on it"}, agent)
    clock.advance(timedelta(hours=4))
    await support.run_job("sla-breaches")  # b's first response missed
    clock.advance(timedelta(hours=1))
    await step(b, "messages", {"body": "sorry"}, agent)  # 6 h: late
    clock.advance(timedelta(hours=4))
    await step(a, "status", {"status": "resolved"}, agent)  # 10 h
    clock.advance(timedelta(hours=1))
    await step(a, "satisfaction", {"score": 5}, support.customer("C-ADA"))
    clock.advance(timedelta(hours=59))
    await step(b, "status", {"status": "resolved"}, agent)  # 70 h
    clock.advance(timedelta(hours=1))
    await step(b, "satisfaction", {"score": 2}, support.customer("C-BOB"))
    clock.advance(timedelta(hours=9))
    await support.run_job("sla-breaches")  # 80 h: the never answered and unresolved ones
    for order, rating in ((o1, 5), (o2, 2), (o3, 5)):
        given = await client.put(
            f"/orders/{order.order_number}/feedback",
            json={"rating": rating},
            headers=support.customer(order.customer_id),
        )
        assert given.status_code == 201, given.text
    clock.advance(AFTER - clock())
    await opened("C-ADA", "delivery", by=support.customer("C-ADA"))
    given = await client.put(
        f"/orders/{old.order_number}/feedback",
        json={"rating": 1},
        headers=support.customer("C-OLD"),
    )
    assert given.status_code == 201, given.text


async def test_the_month_s_returns_exchanges_and_claims_are_counted_once_within_its_bounds(
    client: httpx.AsyncClient, support: Support, service: Service, month: None
) -> None:
    shown = await client.get("/reports/after-sales", params=MARCH, headers=support.agent())
    async with service.database.sessions() as session:
        kept = [str(tuple(row)) for row in await session.execute(select(returns))]

    assert shown.status_code == 200, shown.text
    report = shown.json()
    assert (report["from"], report["to"]) == ("2026-03-01", "2026-03-31")
    r = report["returns"]
    assert (r["requested"], r["received"], r["units"]) == (6, 5, 8)
    assert r["by_reason"] == [
        {"reason": "damaged", "returns": 2, "units": 3},
        {"reason": "no_longer_needed", "returns": 1, "units": 1},
        {"reason": "other", "returns": 1, "units": 3},
        {"reason": "wrong_item", "returns": 1, "units": 1},
    ]
    assert r["by_sku"] == [
        {"sku": "KETTLE", "returns": 1, "units": 1, "sold": 1, "return_rate": 1.0},
        {"sku": "MUG-001", "returns": 2, "units": 3, "sold": 10, "return_rate": 0.3},
        {"sku": "SOCK", "returns": 1, "units": 3, "sold": 0, "return_rate": None},
        {"sku": "TEA-002", "returns": 1, "units": 1, "sold": 2, "return_rate": 0.5},
    ]
    assert r["by_warehouse"] == [
        {"warehouse": "@west", "returns": 1, "units": 1},
        {"warehouse": "east", "returns": 4, "units": 7},
    ]
    assert r["refunds"] == [
        {"currency": "EUR", "returns": 4, "refunded": 2598 + 1199 + 4999, "restocking_fees": 100},
        {"currency": "USD", "returns": 1, "refunded": 1500, "restocking_fees": 200},
    ]
    assert report["exchanges"] == {
        "requested": 2,
        "replacement_shipped": 1,
        "fell_back_to_refund": 1,
        "charged": [{"currency": "EUR", "returns": 1, "charged": 250}],
    }
    # The read model keeps no words: the customer's reason_text is read, never kept.
    assert len(kept) == 7
    assert not any("own words" in row for row in kept)
    assert report["claims"] == {
        "settled": 3,
        "by_carrier": [
            {"carrier": FORMULA_CARRIER, "claims": 1},
            {"carrier": "SimPost", "claims": 1},
            {"carrier": None, "claims": 1},
        ],
        "by_kind": [{"kind": "damaged", "claims": 1}, {"kind": "lost", "claims": 2}],
        "by_resolution": [
            {"resolution": "refund", "claims": 2},
            {"resolution": "reshipment", "claims": 1},
        ],
    }


async def test_the_month_s_cases_agreements_and_feedback(
    client: httpx.AsyncClient, support: Support, month: None
) -> None:
    shown = await client.get("/reports/after-sales", params=MARCH, headers=support.agent())

    cases, feedback = shown.json()["cases"], shown.json()["feedback"]
    assert cases["opened"] == 4
    assert cases["by_category"] == [
        {"category": c, "cases": 1} for c in ("damaged", "delivery", "other", "payment")
    ]
    # Customers' cases only: a, b and the one never answered (due in 24 h, marked at 80 h).
    assert cases["first_response"] == {"due": 3, "met": 1, "missed": 2, "attainment": 0.3333}
    assert cases["resolution"] == {"due": 4, "met": 2, "missed": 2, "attainment": 0.5}
    hour = 3600
    assert cases["time_to_first_response"] == {
        "cases": 2,
        "p50_seconds": 3.5 * hour,  # of 1 h and 6 h
        "p90_seconds": 5.5 * hour,
    }
    assert cases["time_to_resolution"] == {
        "cases": 2,
        "p50_seconds": 40 * hour,  # of 10 h and 70 h
        "p90_seconds": 64 * hour,
    }
    assert cases["satisfaction"] == {"rated": 2, "average": 3.5}
    assert feedback == {
        "given": 3,
        "average_rating": 4.0,
        "ratings": [
            {"rating": 1, "count": 0},
            {"rating": 2, "count": 1},
            {"rating": 3, "count": 0},
            {"rating": 4, "count": 0},
            {"rating": 5, "count": 2},
        ],
    }


async def test_as_csv_the_report_says_the_same_its_formula_looking_text_guarded(
    client: httpx.AsyncClient, support: Support, month: None
) -> None:
    finance = support.identity.headers(Role.FINANCE)

    as_json = await client.get("/reports/after-sales", params=MARCH, headers=finance)
    by_param = await client.get(
        "/reports/after-sales", params={**MARCH, "format": "csv"}, headers=finance
    )
    by_accept = await client.get(
        "/reports/after-sales", params=MARCH, headers={**finance, "Accept": "text/csv"}
    )

    assert by_param.status_code == 200, by_param.text
    assert by_param.headers["content-type"] == "text/csv; charset=utf-8"
    assert by_param.headers["content-disposition"] == (
        'attachment; filename="after-sales_2026-03-01_2026-03-31.csv"'
    )
    assert by_accept.text == by_param.text
    rows = list(csv.reader(io.StringIO(by_param.text)))
    assert rows[0] == ["section", "key", "measure", "value"]
    cells = {(section, key, measure): value for section, key, measure, value in rows[1:]}
    assert cells[("period", "", "from")] == "2026-03-01"
    assert cells[("returns", "", "received")] == "5"
    assert cells[("returns.by_sku", "MUG-001", "return_rate")] == "0.3"
    assert cells[("returns.by_sku", "SOCK", "return_rate")] == ""
    assert cells[("returns.refunds", "EUR", "refunded")] == "8796"
    assert cells[("cases.first_response", "", "attainment")] == "0.3333"
    assert cells[("feedback.ratings", "5", "count")] == "2"
    # Text that a spreadsheet would run is quoted; the JSON keeps it as it is.
    assert cells[("claims.by_carrier", "'" + FORMULA_CARRIER, "claims")] == "1"
    assert cells[("returns.by_warehouse", "'@west", "units")] == "1"
    assert not any(row[1].startswith(("=", "@")) for row in rows)
    # One row per number of the JSON.
    assert len(rows) - 1 == numbers_in(as_json.json())


async def test_a_redelivered_event_is_skipped_by_the_inbox_and_counted_once(
    client: httpx.AsyncClient, support: Support, service: Service, consuming: KafkaBroker
) -> None:
    shop = Shop(consuming)
    order = await shop.order("C-ADA", ("MUG-001", 4), at=march(2))
    r = shop.returned(order, "MUG-001", 2, "damaged")
    before = duplicates()

    for _ in range(3):
        await received(consuming, r, march(6), "east", "damaged", "damaged", message_id="in-1")
        await completed(consuming, r, march(7), eur(2000), eur(0), message_id="done-1")
    await shop.claimed(order, "lost", "refund", "SimPost", march(8))
    shown = await client.get("/reports/after-sales", params=MARCH, headers=support.agent())

    assert duplicates() == before + 4  # seen again, and skipped
    report = shown.json()
    assert (report["returns"]["received"], report["returns"]["units"]) == (1, 2)
    assert report["returns"]["refunds"][0]["refunded"] == 2000
    async with service.database.sessions() as session:
        handled = await session.scalar(
            select(func.count()).select_from(inbox).where(inbox.c.topic == topics.ORDER_RETURNS)
        )
    assert handled == 2


def duplicates() -> float:
    labels = {"service": "support", "topic": topics.ORDER_RETURNS}
    return REGISTRY.get_sample_value("orderly_duplicate_messages_total", labels) or 0.0


async def test_an_empty_period_reports_zeros(client: httpx.AsyncClient, support: Support) -> None:
    shown = await client.get(
        "/reports/after-sales",
        params={"from": "2026-01-01", "to": "2026-01-01"},
        headers=support.agent(),
    )

    report = shown.json()
    assert report["returns"]["received"] == report["claims"]["settled"] == 0
    assert report["cases"]["first_response"] == {
        "due": 0,
        "met": 0,
        "missed": 0,
        "attainment": None,
    }
    assert report["feedback"]["average_rating"] is None


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"from": "2026-13-01", "to": "2026-03-31"}, "from", "date"),
        ({"from": "2026-03-01", "to": "yesterday"}, "to", "date"),
        ({"from": "2026-03-01"}, "to", "required"),
        ({"from": "2026-03-31", "to": "2026-03-01"}, "to", "must not be before from"),
        ({"from": "2025-01-01", "to": "2026-03-01"}, "to", "at most 366"),
    ],
)
async def test_a_bad_period_is_a_422_naming_the_field(
    client: httpx.AsyncClient, support: Support, params: dict[str, str], field: str, says: str
) -> None:
    refused = await client.get("/reports/after-sales", params=params, headers=support.agent())

    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert error["loc"] == ["query", field]
    assert says in error["msg"].lower()


def numbers_in(report: dict[str, Any]) -> int:
    """How many numbers (and null ones) the JSON report holds, its period's two days with."""
    count = 2
    for part in ("returns", "exchanges", "claims", "cases", "feedback"):
        count += _numbers(report[part])
    return count


def _numbers(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_numbers(v) for v in value.values())
    if isinstance(value, list):
        return sum(len(item) - 1 for item in value)  # each item: its key, then its numbers
    return 1
