"""Returns over HTTP on a real, migrated PostgreSQL: requested by customers and support,
approved by rule or by support, rejected, refused, raced, and announced through the outbox.

The service is built as in production but not started: its use cases carry an order to
delivery, ASGITransport runs the real HTTP app, tokens come from the session's
development issuer and a ManualClock tells the service the time.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

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
from orderly_order.adapters.orm import outbox, returns
from orderly_order.bootstrap import MIGRATIONS, build
from orderly_order.domain.returns import ReturnPolicy
from orderly_order.settings import OrderSettings
from orderly_schemas import topics
from orderly_schemas.base import Allocation, Money, OrderLine, StockLine
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.inventory import (
    OrderShipped,
    Parcel,
    ReplacementRefused,
    ReplacementShipped,
    ReturnLine,
    ReturnParcelBooked,
    ReturnParcelTracked,
    ReturnRestocked,
    ShipmentDelivered,
    StockReserved,
)
from orderly_schemas.payment import PaymentCaptured, PaymentCharged, PaymentRefunded, RefundFailed

DELIVERED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MUG, TEA = "MUG-001", "TEA-002"


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DELIVERED_AT)


@pytest.fixture
async def service(fresh_database: str, clock: ManualClock) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    settings = OrderSettings(
        database_url=fresh_database,
        log_json=False,
        return_window_days=30,
        return_auto_approve_max_amount=3000,
    )
    built = build(settings, clock=clock)
    yield built
    await built.database.dispose()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://order") as c:
        yield c


async def an_order_of(service: Service, customer_id: str, *, delivered: bool = True) -> OrderPlaced:
    """An order of two mugs (12.99) and a tea (6.49) of ``customer_id``, carried by the saga
    to its delivery (or only placed)."""
    lines = [
        OrderLine(sku=MUG, quantity=2, unit_price=eur(1299)),
        OrderLine(sku=TEA, quantity=1, unit_price=eur(649)),
    ]
    order = make_order(random.Random(customer_id), order_id=uuid4())
    order = order.model_copy(
        update={
            "customer": order.customer.model_copy(update={"customer_id": customer_id}),
            "lines": lines,
            "total": eur(2 * 1299 + 649),
        }
    )
    oid, now = order.order_id, DELIVERED_AT
    assert isinstance(service.settings, OrderSettings)
    t = service.settings.timeouts()
    orders = use_cases.orders
    steps: list[Any] = [lambda uow: orders.place_order(uow, order, timeouts=t)]
    if delivered:
        allocations = [
            Allocation(sku=line.sku, warehouse="east", quantity=line.quantity) for line in lines
        ]
        steps += [
            lambda uow: orders.record_stock_reserved(
                uow,
                StockReserved(order_id=oid, occurred_at=now, allocations=allocations),
                timeouts=t,
            ),
            lambda uow: orders.record_payment_captured(
                uow,
                PaymentCaptured(
                    order_id=oid,
                    occurred_at=now,
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
                    occurred_at=now,
                    shipment_id=uuid4(),
                    carrier="SimPost",
                    tracking_number="SP1",
                ),
                timeouts=t,
            ),
            lambda uow: orders.record_shipment_delivered(
                uow,
                ShipmentDelivered(
                    order_id=oid,
                    occurred_at=now,
                    shipment_id=uuid4(),
                    tracking_number="SP1",
                    delivered_at=now,
                ),
                timeouts=t,
            ),
        ]
    for step in steps:
        async with service.messaging.unit_of_work() as uow:
            await step(uow)
    return order


async def ask_return(
    client: httpx.AsyncClient,
    order: OrderPlaced,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    """POST /orders/{id}/returns of ``order`` (one damaged mug, unless ``body`` says)."""
    return await client.post(
        f"/orders/{order.order_id}/returns", json=body or damaged_mugs(), headers=headers
    )


def customer(identity: DevIssuer, customer_id: str) -> dict[str, str]:
    return identity.headers(Role.CUSTOMER, sub=f"user-{customer_id}", customer_id=customer_id)


def damaged_mugs(quantity: int = 1) -> dict[str, Any]:
    return {"lines": [{"sku": MUG, "quantity": quantity}], "reason": "damaged"}


async def returns_in_outbox(service: Service) -> list[tuple[str, str | None, str]]:
    """(type, key, topic) of every return event in the outbox, in order."""
    async with service.database.transaction() as s:
        rows = await s.execute(
            select(outbox.c.message_type, outbox.c.message_key, outbox.c.topic)
            .where(outbox.c.topic == topics.ORDER_RETURNS)
            .order_by(outbox.c.id)
        )
        return [(kind, key, topic) for kind, key, topic in rows.tuples()]


async def commands_in_outbox(service: Service) -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of every command the order service sent, in order."""
    async with service.database.transaction() as s:
        rows = await s.execute(
            select(outbox.c.message_type, outbox.c.payload)
            .where(outbox.c.topic.in_([topics.INVENTORY_COMMANDS, topics.PAYMENT_COMMANDS]))
            .order_by(outbox.c.id)
        )
        return [(kind, json.loads(payload)) for kind, payload in rows.tuples()]


async def audited(client: httpx.AsyncClient, identity: DevIssuer) -> list[dict[str, Any]]:
    log = await client.get("/audit", headers=identity.headers(Role.ADMIN))
    items: list[dict[str, Any]] = log.json()["items"]
    return items


async def test_damaged_goods_of_little_value_are_approved_at_once_and_announced(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer, clock: ManualClock
) -> None:
    order = await an_order_of(service, "C-ADA")
    clock.advance(timedelta(days=3))

    created = await ask_return(
        client,
        order,
        customer(identity, "C-ADA"),
        {**damaged_mugs(2), "reason_text": "both handles broke"},
    )
    read = await client.get(
        f"/returns/{created.json()['return_id']}", headers=customer(identity, "C-ADA")
    )

    assert created.status_code == 201
    body = created.json()
    assert body["return_number"] == "RMA-0000001"
    assert (body["status"], body["decided_by"]) == ("approved", "rule")
    assert body["requested_by"] == "user-C-ADA"
    assert body["lines"] == [{"sku": MUG, "quantity": 2}]
    assert read.status_code == 200
    assert read.json() == body
    key = str(order.order_id)
    assert await returns_in_outbox(service) == [
        ("ReturnRequested", key, "order.returns.v1"),
        ("ReturnApproved", key, "order.returns.v1"),
    ]
    assert await audited(client, identity) == []  # nobody privileged acted


async def test_a_return_waits_for_support_who_approves_it_and_is_audited(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await an_order_of(service, "C-ADA")
    created = await ask_return(
        client,
        order,
        customer(identity, "C-ADA"),
        {"lines": [{"sku": TEA, "quantity": 1}], "reason": "no_longer_needed"},
    )
    return_id = created.json()["return_id"]
    support = {**identity.headers(Role.SUPPORT, sub="alice"), "X-Request-ID": "call-4711"}

    by_customer = await client.post(
        f"/returns/{return_id}/approve", headers=customer(identity, "C-ADA")
    )
    approved = await client.post(f"/returns/{return_id}/approve", headers=support)
    again = await client.post(f"/returns/{return_id}/approve", headers=support)

    assert (created.status_code, created.json()["status"]) == (201, "requested")
    assert by_customer.status_code == 403
    assert approved.status_code == 200
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", "alice")
    assert again.status_code == 200
    assert [t for t, _, _ in await returns_in_outbox(service)] == [
        "ReturnRequested",
        "ReturnApproved",
    ]
    [entry] = await audited(client, identity)
    assert (entry["action"], entry["target"]) == ("return.approve", f"return:{return_id}")
    assert (entry["actor"], entry["roles"], entry["request_id"]) == (
        "alice",
        "support",
        "call-4711",
    )
    assert (entry["before"], entry["after"]) == ({"status": "requested"}, {"status": "approved"})


async def test_support_rejects_a_return_saying_why_and_its_units_may_be_requested_again(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await an_order_of(service, "C-ADA")
    ada = customer(identity, "C-ADA")
    asked = {"lines": [{"sku": MUG, "quantity": 2}], "reason": "not_as_described"}
    created = await ask_return(client, order, ada, asked)
    return_id = created.json()["return_id"]
    support = identity.headers(Role.SUPPORT, sub="alice")

    silent = await client.post(f"/returns/{return_id}/reject", headers=support, json={})
    rejected = await client.post(
        f"/returns/{return_id}/reject", headers=support, json={"reason": "as pictured online"}
    )
    approve_after = await client.post(f"/returns/{return_id}/approve", headers=support)
    anew = await ask_return(client, order, ada, asked)

    assert silent.status_code == 422
    assert silent.json()["detail"][0]["loc"] == ["body", "reason"]
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["rejection_reason"]) == (
        "rejected",
        "as pictured online",
    )
    assert approve_after.status_code == 409
    assert "is rejected" in approve_after.json()["detail"]
    assert anew.status_code == 201
    [entry] = await audited(client, identity)
    assert entry["action"] == "return.reject"
    assert entry["after"] == {"status": "rejected", "reason": "as pictured online"}
    types = [t for t, _, _ in await returns_in_outbox(service)]
    assert types == ["ReturnRequested", "ReturnRejected", "ReturnRequested"]


async def test_support_requests_a_return_for_a_customer_who_then_reads_it(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await an_order_of(service, "C-ADA")

    created = await ask_return(client, order, identity.headers(Role.SUPPORT, sub="alice"))
    read = await client.get(
        f"/returns/{created.json()['return_id']}", headers=customer(identity, "C-ADA")
    )

    assert created.status_code == 201
    assert created.json()["requested_by"] == "alice"
    assert read.status_code == 200


async def test_more_units_than_delivered_are_refused_naming_the_field(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await an_order_of(service, "C-ADA")

    r = await ask_return(client, order, customer(identity, "C-ADA"), damaged_mugs(3))

    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "lines", 0, "quantity"]
    assert "at most 2 unit(s) of MUG-001" in error["msg"]
    assert error["input"] == 3
    assert await returns_in_outbox(service) == []


async def test_a_body_that_names_who_asks_is_refused(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await an_order_of(service, "C-ADA")

    r = await ask_return(
        client,
        order,
        customer(identity, "C-ADA"),
        {**damaged_mugs(), "requested_by": "someone-else"},
    )

    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "requested_by"]


async def test_a_return_after_the_window_is_refused(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer, clock: ManualClock
) -> None:
    order = await an_order_of(service, "C-ADA")
    clock.advance(timedelta(days=30, seconds=1))

    r = await ask_return(client, order, customer(identity, "C-ADA"))

    assert r.status_code == 409
    assert "return window of 30 days closed on 2026-03-31" in r.json()["detail"]


async def test_an_order_not_delivered_cannot_be_returned(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await an_order_of(service, "C-ADA", delivered=False)

    r = await ask_return(client, order, customer(identity, "C-ADA"))

    assert r.status_code == 409
    assert "is confirmed; only goods of a delivered order" in r.json()["detail"]


async def test_two_concurrent_requests_for_the_same_units_end_with_one_return(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await an_order_of(service, "C-ADA")
    ada = customer(identity, "C-ADA")

    answers = await asyncio.gather(
        *(ask_return(client, order, ada, damaged_mugs(2)) for _ in range(2))
    )

    assert sorted(a.status_code for a in answers) == [201, 422]
    [refused] = [a for a in answers if a.status_code == 422]
    assert "2 delivered, 2 in other returns" in refused.json()["detail"][0]["msg"]
    async with service.database.transaction() as s:
        assert len((await s.scalars(select(returns.c.return_id))).all()) == 1


async def test_another_customers_order_and_return_are_not_found(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    theirs = await an_order_of(service, "C-BOB")
    created = await ask_return(client, theirs, customer(identity, "C-BOB"))
    ada = customer(identity, "C-ADA")

    order_of_bob = await ask_return(client, theirs, ada)
    missing_order = await client.post(
        "/orders/ORD-9999999/returns", json=damaged_mugs(), headers=ada
    )
    return_of_bob = await client.get(f"/returns/{created.json()['return_id']}", headers=ada)
    missing_return = await client.get(f"/returns/{uuid4()}", headers=ada)

    assert (order_of_bob.status_code, missing_order.status_code) == (404, 404)
    assert (return_of_bob.status_code, missing_return.status_code) == (404, 404)
    assert "C-BOB" not in order_of_bob.text + return_of_bob.text


async def a_damaged_mug_returned(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> tuple[OrderPlaced, str, ReturnPolicy]:
    """A delivered order of C-ADA's, a return of one damaged mug (approved by rule), and
    the service's return policy."""
    order = await an_order_of(service, "C-ADA")
    created = await ask_return(client, order, customer(identity, "C-ADA"))
    assert isinstance(service.settings, OrderSettings)
    return order, created.json()["return_id"], service.settings.return_policy()


async def step(service: Service, act: Any) -> None:
    async with service.messaging.unit_of_work() as uow:
        await act(uow)


async def test_a_return_runs_from_its_label_to_its_refund_and_every_step_is_kept(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer, clock: ManualClock
) -> None:
    order = await an_order_of(service, "C-ADA")
    ada = customer(identity, "C-ADA")
    created = await ask_return(client, order, ada, damaged_mugs(2))
    oid = order.order_id
    return_id = rid = created.json()["return_id"]
    assert isinstance(service.settings, OrderSettings)
    policy = service.settings.return_policy()
    cases = use_cases.returns
    booked = ReturnParcelBooked(
        order_id=oid,
        occurred_at=clock(),
        return_id=rid,
        warehouse="east",
        carrier="SimPost",
        tracking_number="SR00000000AB",
    )

    await step(service, lambda uow: cases.record_return_parcel_booked(uow, booked, policy=policy))
    labelled = (await client.get(f"/returns/{return_id}", headers=ada)).json()
    for status in ("in_transit", "delivered"):
        tracked = ReturnParcelTracked(
            order_id=oid,
            occurred_at=clock(),
            return_id=rid,
            carrier="SimPost",
            tracking_number="SR00000000AB",
            status=status,
        )
        await step(
            service,
            lambda uow, t=tracked: cases.record_return_parcel_tracked(uow, t, policy=policy),
        )
    arrived = (await client.get(f"/returns/{return_id}", headers=ada)).json()
    inspected = ReturnRestocked(
        order_id=oid,
        occurred_at=clock(),
        return_id=rid,
        warehouse="east",
        lines=[
            ReturnLine(sku=MUG, quantity=1, condition="resellable"),
            ReturnLine(sku=MUG, quantity=1, condition="damaged"),
        ],
    )
    for _ in range(2):  # redelivered: refunded once
        await step(service, lambda uow: cases.record_return_received(uow, inspected, policy=policy))
    refunding = (await client.get(f"/returns/{return_id}", headers=ada)).json()
    refunded = PaymentRefunded(
        order_id=oid,
        occurred_at=clock(),
        refund_id=f"return:{rid}",
        amount=eur(2598),
        provider_reference="re_1",
    )
    await step(service, lambda uow: cases.record_return_refunded(uow, refunded))
    done = (await client.get(f"/returns/{return_id}", headers=ada)).json()

    assert (labelled["status"], labelled["tracking_number"]) == ("label_issued", "SR00000000AB")
    expires = datetime.fromisoformat(labelled["label_expires_at"])
    assert expires == clock() + policy.label_valid
    assert arrived["status"] == "arrived"
    assert refunding["status"] == "refunding"
    assert refunding["refunded"] == {"amount": 2598, "currency": "EUR"}
    assert refunding["received"] == [
        {"sku": MUG, "quantity": 1, "condition": "resellable"},
        {"sku": MUG, "quantity": 1, "condition": "damaged"},
    ]
    assert (done["status"], done["deadline_at"]) == ("completed", None)
    assert [h["status"] for h in done["history"]] == [
        "requested",
        "approved",
        "label_issued",
        "in_transit",
        "arrived",
        "refunding",
        "completed",
    ]
    shown = (await client.get(f"/orders/{oid}", headers=ada)).json()["returns"]
    assert [(r["return_number"], r["status"]) for r in shown] == [
        (done["return_number"], "completed")
    ]
    assert [t for t, _, _ in await returns_in_outbox(service)] == [
        "ReturnRequested",
        "ReturnApproved",
        "ReturnLabelIssued",
        "ReturnReceived",
        "ReturnCompleted",
    ]
    sent = await commands_in_outbox(service)
    [book] = [p for t, p in sent if t == "BookReturnParcel"]
    [refund] = [p for t, p in sent if t == "RefundPayment"]
    assert (book["return_id"], book["lines"]) == (rid, [{"sku": MUG, "quantity": 2}])
    assert (refund["refund_id"], refund["amount"]) == (
        f"return:{rid}",
        {"amount": 2598, "currency": "EUR"},
    )


async def test_finance_retries_a_refund_that_failed_and_it_is_audited(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer, clock: ManualClock
) -> None:
    order, rid, policy = await a_damaged_mug_returned(service, client, identity)
    cases = use_cases.returns
    inspected = ReturnRestocked(
        order_id=order.order_id,
        occurred_at=clock(),
        return_id=rid,
        warehouse="east",
        lines=[ReturnLine(sku=MUG, quantity=1, condition="resellable")],
    )
    await step(service, lambda uow: cases.record_return_received(uow, inspected, policy=policy))
    failed = RefundFailed(
        order_id=order.order_id,
        occurred_at=clock(),
        refund_id=f"return:{rid}",
        amount=eur(1299),
        reason="declined by the provider",
        attempts=5,
    )
    await step(service, lambda uow: cases.record_return_refund_failed(uow, failed))
    support_only = identity.headers(Role.WAREHOUSE, sub="wanda")
    finance = identity.headers(Role.FINANCE, sub="fred")

    stuck = await client.get(f"/returns/{rid}", headers=identity.headers(Role.SUPPORT))
    refused = await client.post(f"/returns/{rid}/retry", headers=support_only)
    retried = await client.post(f"/returns/{rid}/retry", headers=finance)
    again = await client.post(f"/returns/{rid}/retry", headers=finance)

    assert stuck.json()["status"] == "needs_attention"
    assert stuck.json()["closing_reason"] == (
        "refund failed after 5 attempt(s): declined by the provider"
    )
    assert refused.status_code == 403
    assert retried.status_code == 200
    assert (retried.json()["status"], retried.json()["refund_id"]) == (
        "refunding",
        f"return:{rid}#2",
    )
    assert again.status_code == 409
    refunds = [p["refund_id"] for t, p in await commands_in_outbox(service) if t == "RefundPayment"]
    assert refunds == [f"return:{rid}", f"return:{rid}#2"]
    [entry] = [e for e in await audited(client, identity) if e["action"] == "return.retry"]
    assert entry["before"]["status"] == "needs_attention"


async def test_due_returns_are_claimed_from_postgresql_and_an_unused_label_expires(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer, clock: ManualClock
) -> None:
    order, rid, policy = await a_damaged_mug_returned(service, client, identity)
    cases = use_cases.returns
    booked = ReturnParcelBooked(
        order_id=order.order_id,
        occurred_at=clock(),
        return_id=rid,
        warehouse="east",
        carrier="SimPost",
        tracking_number="SR00000000CD",
    )
    await step(service, lambda uow: cases.record_return_parcel_booked(uow, booked, policy=policy))

    clock.advance(policy.label_valid - timedelta(seconds=1))
    await step(service, lambda uow: cases.process_due_returns(uow, policy=policy))
    waiting = (await client.get(f"/returns/{rid}", headers=identity.headers(Role.SUPPORT))).json()
    clock.advance(timedelta(seconds=1))
    await step(service, lambda uow: cases.process_due_returns(uow, policy=policy))
    expired = (await client.get(f"/returns/{rid}", headers=identity.headers(Role.SUPPORT))).json()

    assert waiting["status"] == "label_issued"
    assert (expired["status"], expired["deadline_at"]) == ("expired", None)
    assert expired["closing_reason"] == "the label was not used within 14 day(s)"
    assert expired["history"][-1]["reason"] == expired["closing_reason"]
    assert [t for t, _, _ in await returns_in_outbox(service)][-1] == "ReturnExpired"


async def test_an_exchange_for_a_dearer_item_is_charged_the_difference_then_shipped_sealed(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer, clock: ManualClock
) -> None:
    order = await an_order_of(service, "C-ADA")
    support = identity.headers(Role.SUPPORT, sub="alice")
    body = {
        "lines": [{"sku": MUG, "quantity": 1}],
        "reason": "no_longer_needed",
        "resolution": "exchange",
        "replacement": [
            {"sku": "MUG-XL", "quantity": 1, "unit_price": {"amount": 1899, "currency": "EUR"}}
        ],
    }
    priced_by_customer = await ask_return(client, order, customer(identity, "C-ADA"), body)
    created = await ask_return(client, order, support, body)
    rid = created.json()["return_id"]
    await client.post(f"/returns/{rid}/approve", headers=support)
    assert isinstance(service.settings, OrderSettings)
    policy = service.settings.return_policy()
    cases = use_cases.returns
    oid = order.order_id
    inspected = ReturnRestocked(
        order_id=oid,
        occurred_at=clock(),
        return_id=rid,
        warehouse="east",
        lines=[ReturnLine(sku=MUG, quantity=1, condition="resellable")],
    )
    await step(service, lambda uow: cases.record_return_received(uow, inspected, policy=policy))
    replacing = (await client.get(f"/returns/{rid}", headers=support)).json()
    [charge] = [p for t, p in await commands_in_outbox(service) if t == "ChargePayment"]
    charged = PaymentCharged(
        order_id=oid,
        occurred_at=clock(),
        charge_id=charge["charge_id"],
        amount=eur(600),
        provider_reference="ch_1",
    )
    for _ in range(2):  # redelivered: shipped once
        await step(
            service, lambda uow: cases.record_replacement_charged(uow, charged, policy=policy)
        )
    [ship] = [p for t, p in await commands_in_outbox(service) if t == "ShipReplacement"]
    shipped = ReplacementShipped(
        order_id=oid,
        occurred_at=clock(),
        replacement_id=ship["replacement_id"],
        parcels=[
            Parcel(
                shipment_id=uuid4(),
                warehouse="east",
                carrier="SimPost",
                tracking_number="SR-XL-1",
                lines=[StockLine(sku="MUG-XL", quantity=1)],
            )
        ],
    )
    handled: list[bool] = []

    async def ship_it(uow: Any) -> None:
        handled.append(await cases.record_replacement_shipped(uow, shipped, policy=policy))

    await step(service, ship_it)
    done = (await client.get(f"/returns/{rid}", headers=support)).json()

    assert priced_by_customer.status_code == 422
    assert priced_by_customer.json()["detail"][0]["loc"] == ["body", "replacement", 0, "unit_price"]
    assert created.status_code == 201
    assert created.json()["replacement"] == [
        {"sku": "MUG-XL", "quantity": 1, "unit_price": {"amount": 1899, "currency": "EUR"}}
    ]
    assert (replacing["status"], replacing["replacement_state"]) == ("replacing", "charging")
    assert (charge["charge_id"], charge["amount"]) == (
        f"exchange:{rid}",
        {"amount": 600, "currency": "EUR"},
    )
    assert charge["payment"]["token"] == order.payment.token
    assert ship["ship_to"] is None
    assert ship["personal"] is not None  # the address sealed, never in plaintext
    assert ship["lines"] == [{"sku": "MUG-XL", "quantity": 1}]
    assert handled == [True]
    assert (done["status"], done["replacement_state"], done["replacement_tracking"]) == (
        "completed",
        "shipped",
        ["SR-XL-1"],
    )
    assert done["charged"] == {"amount": 600, "currency": "EUR"}
    assert done["refunded"] == {"amount": 0, "currency": "EUR"}
    assert [t for t, _, _ in await returns_in_outbox(service)][-3:] == [
        "ReturnReceived",
        "ReturnReplacementShipped",
        "ReturnCompleted",
    ]


async def test_an_exchange_whose_replacement_is_refused_is_kept_as_a_refund(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer, clock: ManualClock
) -> None:
    order = await an_order_of(service, "C-ADA")
    ada = customer(identity, "C-ADA")
    body = {
        **damaged_mugs(1),
        "resolution": "exchange",
        "replacement": [{"sku": MUG, "quantity": 1}],
    }
    rid = (await ask_return(client, order, ada, body)).json()["return_id"]
    assert isinstance(service.settings, OrderSettings)
    policy = service.settings.return_policy()
    inspected = ReturnRestocked(
        order_id=order.order_id,
        occurred_at=clock(),
        return_id=rid,
        warehouse="east",
        lines=[ReturnLine(sku=MUG, quantity=1, condition="damaged")],
    )
    await step(
        service, lambda uow: use_cases.returns.record_return_received(uow, inspected, policy=policy)
    )
    [ship] = [p for t, p in await commands_in_outbox(service) if t == "ShipReplacement"]
    refused = ReplacementRefused(
        order_id=order.order_id,
        occurred_at=clock(),
        replacement_id=ship["replacement_id"],
        reason="insufficient stock",
        short_skus=[MUG],
    )
    await step(
        service,
        lambda uow: use_cases.returns.record_replacement_refused(uow, refused, policy=policy),
    )
    seen = (await client.get(f"/returns/{rid}", headers=ada)).json()

    assert (seen["resolution"], seen["replacement_state"], seen["status"]) == (
        "refund",
        "unavailable",
        "refunding",
    )
    assert seen["refunded"] == {"amount": 1299, "currency": "EUR"}
