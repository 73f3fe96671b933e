"""Claims over HTTP on a real, migrated PostgreSQL: support settles an order whose parcel
was lost in transit with a reshipment or a refund; the replacement's answers, the refund's
and the deadlines carry the order on, and the claim follows it.

The service is built as in production but not started: its use cases carry an order to
a lost parcel, ASGITransport runs the real HTTP app, tokens come from the session's
development issuer and a ManualClock tells the service the time.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import select

from orderly_dev.checkout import make_order
from orderly_dev.identity import DevIssuer
from orderly_kit import migrations
from orderly_kit.auth import Role
from orderly_kit.clock import ManualClock
from orderly_kit.service import Service
from orderly_order import use_cases
from orderly_order.adapters.orm import outbox
from orderly_order.bootstrap import MIGRATIONS, build
from orderly_order.settings import OrderSettings
from orderly_schemas import topics
from orderly_schemas.base import Allocation, StockLine
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.inventory import (
    OrderShipped,
    Parcel,
    ReplacementDelivered,
    ReplacementFailed,
    ReplacementRefused,
    ReplacementShipped,
    ShipmentFailed,
    StockReserved,
)
from orderly_schemas.payment import PaymentCaptured, PaymentRefunded, RefundFailed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
async def service(fresh_database: str, clock: ManualClock) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    settings = OrderSettings(database_url=fresh_database, log_json=False)
    built = build(settings, clock=clock)
    yield built
    await built.database.dispose()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://order") as c:
        yield c


async def run(service: Service, step: Any) -> None:
    async with service.messaging.unit_of_work() as uow:
        await step(uow)


async def a_lost_order(service: Service, customer_id: str = "C-ADA") -> OrderPlaced:
    """An order of ``customer_id`` carried by the saga until its parcel failed in transit."""
    order = make_order(random.Random(customer_id), order_id=uuid4())
    order = order.model_copy(
        update={"customer": order.customer.model_copy(update={"customer_id": customer_id})}
    )
    oid = order.order_id
    assert isinstance(service.settings, OrderSettings)
    t = service.settings.timeouts()
    orders = use_cases.orders
    allocations = [
        Allocation(sku=line.sku, warehouse="east", quantity=line.quantity) for line in order.lines
    ]
    for step in [
        lambda uow: orders.place_order(uow, order, timeouts=t),
        lambda uow: orders.record_stock_reserved(
            uow, StockReserved(order_id=oid, occurred_at=NOW, allocations=allocations), timeouts=t
        ),
        lambda uow: orders.record_payment_captured(
            uow,
            PaymentCaptured(
                order_id=oid,
                occurred_at=NOW,
                payment_id="pay_1",
                amount=order.total,
                provider_reference="sim_1",
            ),
            timeouts=t,
        ),
        lambda uow: orders.record_order_shipped(
            uow,
            OrderShipped(
                order_id=oid,
                occurred_at=NOW,
                shipment_id=uuid4(),
                carrier="SimPost",
                tracking_number="SP1",
            ),
            timeouts=t,
        ),
        lambda uow: orders.record_shipment_failed(
            uow,
            ShipmentFailed(order_id=oid, occurred_at=NOW, reason="parcel SP1 lost"),
            timeouts=t,
        ),
    ]:
        await run(service, step)
    return order


def support(identity: DevIssuer, name: str = "alice") -> dict[str, str]:
    return identity.headers(Role.SUPPORT, sub=name)


async def outgoing(service: Service, *topic: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of every message the service sent on ``topic``, in order."""
    async with service.database.transaction() as s:
        rows = await s.execute(
            select(outbox.c.message_type, outbox.c.payload)
            .where(outbox.c.topic.in_(topic))
            .order_by(outbox.c.id)
        )
        return [(kind, json.loads(payload or "{}")) for kind, payload in rows.tuples()]


async def claim(
    client: httpx.AsyncClient, order: OrderPlaced, headers: dict[str, str], resolution: str
) -> httpx.Response:
    return await client.post(
        f"/orders/{order.order_id}/claims",
        json={"kind": "lost", "resolution": resolution},
        headers=headers,
    )


async def test_a_reshipment_sends_the_goods_again_sealed_and_the_order_completes(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await a_lost_order(service)
    opened = await claim(client, order, support(identity), "reshipment")
    body = opened.json()
    replacement = UUID(body["replacement_id"])

    assert opened.status_code == 201, opened.text
    assert (body["claim_number"], body["status"], body["opened_by"]) == (
        "CLM-0000001",
        "reshipping",
        "alice",
    )
    (_, ship), *_ = [
        c for c in await outgoing(service, topics.INVENTORY_COMMANDS) if c[0] == "ShipReplacement"
    ]
    assert ship["replacement_id"] == str(replacement)
    assert ship["ship_to"] is None  # sealed, never plaintext
    assert ship["personal"] is not None
    assert [StockLine.model_validate(s) for s in ship["lines"]] == [
        StockLine(sku=line.sku, quantity=line.quantity) for line in order.lines
    ]
    assert order.shipping_address.line1 not in json.dumps(ship)

    t = service.settings.timeouts()  # type: ignore[attr-defined]
    parcel = Parcel(
        shipment_id=uuid4(), warehouse="east", carrier="SimPost", tracking_number="SR-2"
    )
    shipped = ReplacementShipped(
        order_id=order.order_id, occurred_at=NOW, replacement_id=replacement, parcels=[parcel]
    )
    await run(
        service, lambda uow: use_cases.claims.record_replacement_shipped(uow, shipped, timeouts=t)
    )
    mid = (await client.get(f"/claims/{body['claim_id']}", headers=support(identity))).json()
    delivered = ReplacementDelivered(
        order_id=order.order_id, occurred_at=NOW, replacement_id=replacement, delivered_at=NOW
    )
    await run(
        service,
        lambda uow: use_cases.claims.record_replacement_delivered(uow, delivered, timeouts=t),
    )
    read = await client.get(f"/orders/{order.order_id}", headers=support(identity))
    mine = await client.get(
        f"/claims/{body['claim_id']}",
        headers=identity.headers(Role.CUSTOMER, sub="u", customer_id="C-ADA"),
    )
    theirs = await client.get(
        f"/claims/{body['claim_id']}",
        headers=identity.headers(Role.CUSTOMER, sub="u", customer_id="C-BOB"),
    )

    assert mid["status"] == "reshipped"
    assert read.json()["status"] == "delivered"
    assert read.json()["tracking_numbers"] == ["SR-2"]
    assert [c["status"] for c in read.json()["claims"]] == ["delivered"]
    assert [h["status"] for h in read.json()["status_history"]][-4:] == [
        "needs_attention",
        "reshipping",
        "shipped",
        "delivered",
    ]
    events = [k for k, _ in await outgoing(service, topics.ORDER_EVENTS)]
    assert events[-3:] == ["OrderClaimed", "OrderReshipped", "OrderDelivered"]
    assert (mine.status_code, theirs.status_code) == (200, 404)
    assert not [
        c for c in await outgoing(service, topics.PAYMENT_COMMANDS) if c[0] == "RefundPayment"
    ]


async def test_a_refused_reshipment_is_refunded_in_full_instead(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await a_lost_order(service)
    body = (await claim(client, order, support(identity), "reshipment")).json()
    refused = ReplacementRefused(
        order_id=order.order_id,
        occurred_at=NOW,
        replacement_id=UUID(body["replacement_id"]),
        reason="insufficient stock",
        short_skus=[order.lines[0].sku],
    )
    t = service.settings.timeouts()  # type: ignore[attr-defined]
    await run(
        service, lambda uow: use_cases.claims.record_replacement_refused(uow, refused, timeouts=t)
    )
    refunds = [
        p for k, p in await outgoing(service, topics.PAYMENT_COMMANDS) if k == "RefundPayment"
    ]
    await run(
        service,
        lambda uow: use_cases.orders.record_payment_refunded(
            uow,
            PaymentRefunded(
                order_id=order.order_id,
                occurred_at=NOW,
                refund_id=refunds[0]["refund_id"],
                amount=order.total,
                provider_reference="re_1",
            ),
        ),
    )
    read = (await client.get(f"/claims/{body['claim_id']}", headers=support(identity))).json()
    placed = (await client.get(f"/orders/{order.order_id}", headers=support(identity))).json()

    assert [(r["refund_id"], r["amount"]["amount"]) for r in refunds] == [
        (f"claim:{body['claim_id']}", order.total.amount)
    ]
    assert not [
        c for c in await outgoing(service, topics.INVENTORY_COMMANDS) if c[0] == "ReleaseStock"
    ]
    assert read["status"] == "refunded"
    assert placed["status"] == "cancelled"
    assert "refunded instead" in placed["cancel_reason"]


async def test_a_refund_claim_that_fails_is_retried_under_a_new_id(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await a_lost_order(service)
    body = (await claim(client, order, support(identity), "refund")).json()
    failed = RefundFailed(
        order_id=order.order_id,
        occurred_at=NOW,
        refund_id=f"claim:{body['claim_id']}",
        amount=order.total,
        reason="provider refused",
        attempts=5,
    )
    await run(service, lambda uow: use_cases.orders.record_refund_failed(uow, failed))
    stuck = (await client.get(f"/claims/{body['claim_id']}", headers=support(identity))).json()
    async with service.messaging.unit_of_work() as uow:
        await use_cases.orders.retry_saga_step(
            uow,
            order.order_id,
            operator="ops",
            reason="provider back",
            timeouts=service.settings.timeouts(),  # type: ignore[attr-defined]
        )
    after = (await client.get(f"/claims/{body['claim_id']}", headers=support(identity))).json()
    refunds = [
        p["refund_id"]
        for k, p in await outgoing(service, topics.PAYMENT_COMMANDS)
        if k == "RefundPayment"
    ]

    assert body["status"] == "refunding"
    assert stuck["status"] == "needs_attention"
    assert after["status"] == "refunding"
    assert refunds == [f"claim:{body['claim_id']}", f"claim:{body['claim_id']}#2"]


async def test_a_replacement_lost_too_is_settled_by_a_second_claim(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await a_lost_order(service)
    first = (await claim(client, order, support(identity), "reshipment")).json()
    replacement = UUID(first["replacement_id"])
    t = service.settings.timeouts()  # type: ignore[attr-defined]
    parcel = Parcel(shipment_id=uuid4(), warehouse="east", carrier="SimPost", tracking_number="SR")
    for step in [
        lambda uow: use_cases.claims.record_replacement_shipped(
            uow,
            ReplacementShipped(
                order_id=order.order_id,
                occurred_at=NOW,
                replacement_id=replacement,
                parcels=[parcel],
            ),
            timeouts=t,
        ),
        lambda uow: use_cases.claims.record_replacement_failed(
            uow,
            ReplacementFailed(
                order_id=order.order_id, occurred_at=NOW, replacement_id=replacement, reason="lost"
            ),
        ),
    ]:
        await run(service, step)
    second = await claim(client, order, support(identity, "bob"), "refund")
    old = (await client.get(f"/claims/{first['claim_id']}", headers=support(identity))).json()

    assert second.status_code == 201
    assert second.json()["claim_number"] == "CLM-0000002"
    assert old["status"] == "superseded"


async def test_claims_are_refused_unless_the_order_needs_attention_after_shipping(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer, clock: ManualClock
) -> None:
    order = await a_lost_order(service)
    opened = await claim(client, order, support(identity), "refund")
    twice = await claim(client, order, support(identity), "refund")
    by_customer = await client.post(
        f"/orders/{order.order_id}/claims",
        json={"kind": "lost", "resolution": "refund"},
        headers=identity.headers(Role.CUSTOMER, sub="u", customer_id="C-ADA"),
    )
    bad = await client.post(
        f"/orders/{order.order_id}/claims",
        json={"kind": "stolen", "resolution": "refund"},
        headers=support(identity),
    )
    unknown = await claim(
        client, order.model_copy(update={"order_id": uuid4()}), support(identity), "refund"
    )
    audit = (await client.get("/audit", headers=identity.headers(Role.ADMIN))).json()["items"]

    assert opened.status_code == 201
    assert twice.status_code == 409
    assert "needs attention" in twice.json()["detail"]
    assert by_customer.status_code == 403
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "kind"]
    assert unknown.status_code == 404
    assert [(e["action"], e["actor"]) for e in audit] == [("claim.open", "alice")]


async def test_two_claims_at_once_settle_the_order_once(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await a_lost_order(service)
    answers = await asyncio.gather(
        claim(client, order, support(identity), "refund"),
        claim(client, order, support(identity, "bob"), "reshipment"),
    )
    assert sorted(a.status_code for a in answers) == [201, 409]
    claimed = [k for k, _ in await outgoing(service, topics.ORDER_EVENTS) if k == "OrderClaimed"]
    assert claimed == ["OrderClaimed"]


async def test_the_timeline_shows_what_this_service_keeps_and_names_who_did_not_answer(
    fresh_database: str, clock: ManualClock, identity: DevIssuer
) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    settings = OrderSettings(
        database_url=fresh_database,
        log_json=False,
        payment_url="http://127.0.0.1:9",  # nothing listens: refused at once
    )
    built = build(settings, clock=clock)
    try:
        order = await a_lost_order(built)
        transport = httpx.ASGITransport(app=built.http)
        async with httpx.AsyncClient(transport=transport, base_url="http://order") as c:
            await claim(c, order, support(identity), "refund")
            timeline = await c.get(f"/orders/{order.order_id}/timeline", headers=support(identity))
            by_customer = await c.get(
                f"/orders/{order.order_id}/timeline",
                headers=identity.headers(Role.CUSTOMER, sub="u", customer_id="C-ADA"),
            )
    finally:
        await built.database.dispose()
    body = timeline.json()

    assert timeline.status_code == 200
    assert by_customer.status_code == 403
    steps = [(e["source"], e["what"]) for e in body["entries"]]
    assert steps[:2] == [("order", "confirmed"), ("order", "reserved")]
    assert {("order", "needs_attention"), ("claim", "opened"), ("order", "cancelling")} <= set(
        steps
    )
    assert body["unavailable"]["payment"] == "payment: ConnectError"
    assert body["unavailable"]["shipment"] == "inventory: no URL set (ORDER_INVENTORY_URL)"
    assert set(body["unavailable"]) == {
        "shipment",
        "replacements",
        "payment",
        "notifications",
        "cases",
        "feedback",
    }
    assert order.customer.name not in timeline.text
