"""The order service refuses what no service can keep or act on, on checkout.orders.v1 (a
dead letter naming the field, before any effect) and at POST /orders (a 422 naming it);
and an order id names one order: the same order again changes nothing, another order
under its id is dead-lettered on Kafka and refused with 409 over HTTP.

The service is built as in production but not started: FastStream's in-memory broker
runs the real subscriber and the kit's middleware, and ASGITransport the real HTTP app
(without lifespan, so no consumer starts), both against a real, migrated database.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker
from sqlalchemy import Table, select

from orderly_dev.checkout import headers_for, make_order
from orderly_dev.identity import DevIssuer
from orderly_kit import migrations
from orderly_kit.auth import Role
from orderly_kit.service import Service
from orderly_order.adapters.orm import inbox, orders, outbox
from orderly_order.bootstrap import MIGRATIONS, build
from orderly_order.settings import OrderSettings
from orderly_schemas import topics
from orderly_schemas.checkout import OrderPlaced

Body = dict[str, Any]
DLQ = topics.dead_letter_topic(topics.CHECKOUT_ORDERS)


@pytest.fixture
async def service(fresh_database: str) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    built = build(OrderSettings(database_url=fresh_database, log_json=False))
    built.consumer()  # the subscriber start() builds, for FastStream's test broker
    yield built
    await built.database.dispose()


@pytest.fixture
async def client(service: Service, identity: DevIssuer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.http)
    checkout = identity.headers(Role.CHECKOUT)  # the service principal that places orders
    async with httpx.AsyncClient(
        transport=transport, base_url="http://order", headers=checkout
    ) as c:
        yield c


async def rows(service: Service, table: Table) -> list[dict[str, Any]]:
    async with service.database.sessions() as session:
        query = select(table).order_by(*table.primary_key.columns)
        return [dict(r._mapping) for r in await session.execute(query)]


async def publish(service: Service, order: OrderPlaced, body: Body, **headers: str) -> str:
    """Publish ``body`` on checkout.orders.v1 as checkout would publish ``order``; its id."""
    sent = {k: v.decode() for k, v in headers_for(order)} | headers
    async with TestKafkaBroker(service.broker) as broker:
        await broker.publish(
            json.dumps(body).encode(),
            topic=topics.CHECKOUT_ORDERS,
            key=str(order.order_id).encode(),
            headers=sent,
        )
    return sent["ce_id"]


def wire(order: OrderPlaced) -> Body:
    body: Body = json.loads(order.model_dump_json())
    return body


def at(path: str) -> Callable[[Body, object], None]:
    """A change that sets the field at ``path`` (``lines.0.unit_price.amount``)."""

    def change(body: Body, value: object) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value

    return change


def one_line_of(body: Body, price: int) -> None:
    body["lines"] = body["lines"][:1]
    body["lines"][0]["quantity"] = 1
    body["lines"][0]["unit_price"]["amount"] = price
    body["total"]["amount"] = price


BOUND = "Input should be less than or equal to 1000000000000000"
REFUSED: list[tuple[str, Callable[[Body], None], str]] = [
    (
        "amount-beyond-bigint",
        lambda b: one_line_of(b, 10**30),
        f"lines.0.unit_price.amount: {BOUND}; total.amount: {BOUND}",
    ),
    ("zero-total", lambda b: one_line_of(b, 0), "total: an order must cost something"),
    ("unknown-currency", lambda b: at("total.currency")(b, "ABC"), "total.currency: must be an"),
    (
        "unknown-country",
        lambda b: at("shipping_address.country")(b, "XY"),
        "shipping_address.country: must be an ISO 3166-1",
    ),
    ("placed-at-a-number", lambda b: at("placed_at")(b, 1_773_480_413), "placed_at: must be"),
    (
        "placed-tomorrow",
        lambda b: at("placed_at")(b, (datetime.now(UTC) + timedelta(days=1)).isoformat()),
        "placed_at: must not be more than one hour after",
    ),
    (
        "unknown-nested-field",
        lambda b: at("customer.phone")(b, "+49 30 1234567"),
        "customer.phone: Extra inputs are not permitted",
    ),
]


@pytest.mark.parametrize(
    ("change", "reason"), [(c, r) for _, c, r in REFUSED], ids=[i for i, _, _ in REFUSED]
)
async def test_an_order_the_contract_refuses_is_dead_lettered_before_any_effect(
    service: Service, change: Callable[[Body], None], reason: str
) -> None:
    order = make_order(random.Random(1))
    body = wire(order)
    change(body)

    message_id = await publish(service, order, body)

    [letter] = await rows(service, outbox)
    assert letter["topic"] == DLQ
    assert letter["headers"]["dlq_error"].startswith(f"invalid OrderPlaced: {reason}")
    assert "+49" not in letter["headers"]["dlq_error"]
    assert await rows(service, orders) == []
    assert [(r["message_id"], r["outcome"]) for r in await rows(service, inbox)] == [
        (message_id, "dead_lettered")
    ]


async def test_a_message_of_another_topic_on_checkout_orders_is_dead_lettered(
    service: Service,
) -> None:
    order = make_order(random.Random(2))

    await publish(service, order, wire(order), ce_type="OrderCancelled")

    [letter] = await rows(service, outbox)
    assert (letter["topic"], letter["headers"]["dlq_error"]) == (
        DLQ,
        "MisplacedMessageError: OrderCancelled belongs on order.events.v1,"
        " not on checkout.orders.v1",
    )
    assert await rows(service, orders) == []


async def test_the_same_order_again_changes_nothing_and_another_under_its_id_is_dead_lettered(
    service: Service,
) -> None:
    order = make_order(random.Random(3))
    first = await publish(service, order, wire(order))
    [placed] = await rows(service, orders)
    effects = await rows(service, outbox)
    # The same order, sent again as a new message and re-stamped by its producer.
    restamped = wire(order) | {"placed_at": datetime.now(UTC).isoformat()}
    repeat = await publish(service, order, restamped)
    other = wire(order)
    other["shipping_address"]["line1"] = "1 Other Street"
    conflicting = await publish(service, order, other)

    assert await rows(service, orders) == [placed]
    *same, letter = await rows(service, outbox)
    assert same == effects
    assert (letter["topic"], letter["headers"]["dlq_error"]) == (
        DLQ,
        f"OrderConflictError: order {order.order_id} was already placed with another body"
        " (customer, lines, total, address or payment differ); an order id names one order:"
        " place a new order under a new id",
    )
    assert "Other Street" not in json.dumps(letter["headers"])
    outcomes = {r["message_id"]: r["outcome"] for r in await rows(service, inbox)}
    assert outcomes == {
        first: "processed",
        repeat: "processed",
        conflicting: "dead_lettered",
    }


async def test_post_orders_again_with_the_same_body_is_accepted_once_and_another_is_a_409(
    service: Service, client: httpx.AsyncClient
) -> None:
    body = wire(make_order(random.Random(4)))
    del body["placed_at"]  # stamped as it arrives: a retry is stamped anew

    first = await client.post("/orders", json=body)
    again = await client.post("/orders", json=body)
    other = await client.post("/orders", json=body | {"total": {"amount": 1, "currency": "EUR"}})
    changed = await client.post(
        "/orders", json=body | {"customer": body["customer"] | {"name": "Someone Else"}}
    )

    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert again.json() == first.json()
    assert other.status_code == 422  # the total is not the sum of the lines: refused first
    assert changed.status_code == 409, changed.text
    assert changed.json() == {
        "detail": f"order {body['order_id']} was already placed with another body (customer,"
        " lines, total, address or payment differ); an order id names one order: place a new"
        " order under a new id"
    }
    assert [r["message_type"] for r in await rows(service, outbox)] == ["OrderPlaced"]


async def test_post_orders_compares_with_the_order_once_it_is_placed(
    service: Service, client: httpx.AsyncClient
) -> None:
    order = make_order(random.Random(5))
    await publish(service, order, wire(order))  # placed from Kafka: not in our outbox
    changed = wire(order)
    changed["lines"][0]["quantity"] += 1
    changed["total"]["amount"] += changed["lines"][0]["unit_price"]["amount"]

    same = await client.post("/orders", json=wire(order))
    other = await client.post("/orders", json=changed)

    assert same.status_code == 202, same.text
    assert other.status_code == 409, other.text
    published = [r["message_type"] for r in await rows(service, outbox)]
    assert published == ["OrderConfirmed", "ReserveStock"]  # nothing published again


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda b: one_line_of(b, 10**30), ["body", "lines", 0, "unit_price", "amount"]),
        (lambda b: at("total.currency")(b, "ABC"), ["body", "total", "currency"]),
        (lambda b: at("placed_at")(b, 1_773_480_413), ["body", "placed_at"]),
        (
            lambda b: at("lines.0.unit_price.cents")(b, 5),
            ["body", "lines", 0, "unit_price", "cents"],
        ),
    ],
    ids=["amount-beyond-bigint", "unknown-currency", "placed-at-a-number", "unknown-nested-field"],
)
async def test_post_orders_refuses_what_the_contract_refuses_naming_the_field(
    service: Service, client: httpx.AsyncClient, change: Callable[[Body], None], where: list[Any]
) -> None:
    body = wire(make_order(random.Random(6)))
    change(body)

    r = await client.post("/orders", json=body)

    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == where
    assert await rows(service, outbox) == []
