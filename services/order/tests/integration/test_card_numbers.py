"""The order service refuses card numbers, and text no store can keep (a NUL), on
checkout.orders.v1 and over HTTP, storing none of it.

The service is built as in production but not started: FastStream's in-memory broker
runs the real subscriber and the kit's middleware, and ASGITransport the real HTTP app
(without lifespan, so no consumer starts), both against a real, migrated database.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker
from sqlalchemy import Table, select

from orderly_dev.checkout import headers_for, make_order
from orderly_dev.identity import DevIssuer
from orderly_kit import migrations
from orderly_kit.auth import Role
from orderly_kit.card_data import MARKER
from orderly_kit.service import Service
from orderly_order.adapters.orm import inbox, orders, outbox
from orderly_order.bootstrap import MIGRATIONS, build
from orderly_order.settings import OrderSettings
from orderly_schemas import topics
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.text import NUL_RULE

CARD = "4000056655665556"
RULE = "looks like a card number; send the provider's token instead"


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
    # A caller that may both place orders and cancel them.
    caller = identity.headers(Role.CHECKOUT, Role.SUPPORT)
    async with httpx.AsyncClient(transport=transport, base_url="http://order", headers=caller) as c:
        yield c


async def rows(service: Service, table: Table) -> list[dict[str, Any]]:
    async with service.database.sessions() as session:
        return [dict(r._mapping) for r in await session.execute(select(table))]


async def place(service: Service, order: OrderPlaced, body: dict[str, Any]) -> None:
    """Publish ``body`` on checkout.orders.v1 as checkout would publish ``order``."""
    async with TestKafkaBroker(service.broker) as broker:
        await broker.publish(
            json.dumps(body).encode(),
            topic=topics.CHECKOUT_ORDERS,
            key=str(order.order_id).encode(),
            headers={k: v.decode() for k, v in headers_for(order)},
        )


def assert_no_card(*things: object) -> None:
    for thing in things:
        text = json.dumps(thing, default=lambda v: v.decode() if isinstance(v, bytes) else str(v))
        assert CARD not in text.replace(" ", "").replace("-", ""), text


async def test_an_order_placed_with_a_card_number_is_dead_lettered_and_not_stored(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    order = make_order(random.Random(1), payment_token=CARD)
    body = json.loads(order.model_dump_json())
    body["shipping_address"]["line2"] = "card 4000 0566 5566 5556"

    await place(service, order, body)

    [letter] = await rows(service, outbox)
    assert letter["topic"] == topics.dead_letter_topic(topics.CHECKOUT_ORDERS)
    assert letter["headers"]["dlq_error"] == (
        f"CardNumberError: field shipping_address.line2: {RULE}; field payment.token: {RULE}"
    )
    dead = json.loads(letter["payload"])
    assert (dead["payment"]["token"], dead["shipping_address"]["line2"]) == (MARKER, MARKER)
    assert dead["order_id"] == str(order.order_id)
    assert await rows(service, orders) == []
    assert_no_card(await rows(service, outbox), await rows(service, inbox), caplog.text)


async def test_post_orders_with_a_card_number_is_refused_naming_the_field(
    service: Service, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.loads(make_order(random.Random(2), payment_token=CARD).model_dump_json())

    r = await client.post("/orders", json=body)

    assert r.status_code == 422
    assert r.json() == {
        "detail": [{"loc": ["body", "payment", "token"], "msg": RULE, "type": "card_number"}]
    }
    assert await rows(service, outbox) == []
    assert_no_card(r.text, caplog.text)


async def test_a_cancel_reason_with_a_card_number_is_refused(
    service: Service, client: httpx.AsyncClient
) -> None:
    r = await client.post(
        "/orders/ORD-0000001/cancel", json={"reason": "refund to 4000-0566-5566-5556"}
    )

    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "reason"]
    assert_no_card(r.text)


async def test_a_clean_order_is_still_accepted(service: Service, client: httpx.AsyncClient) -> None:
    body = json.loads(make_order(random.Random(3)).model_dump_json())

    r = await client.post("/orders", json=body)

    assert r.status_code == 202, r.text
    assert [row["message_type"] for row in await rows(service, outbox)] == ["OrderPlaced"]


async def test_an_order_with_a_nul_in_the_customers_name_is_dead_lettered_naming_it(
    service: Service,
) -> None:
    order = make_order(random.Random(4))
    body = json.loads(order.model_dump_json())
    body["customer"]["name"] = "Ada\x00Lovelace"

    await place(service, order, body)

    [letter] = await rows(service, outbox)
    assert letter["topic"] == topics.dead_letter_topic(topics.CHECKOUT_ORDERS)
    assert letter["headers"]["dlq_error"] == (f"invalid OrderPlaced: customer.name: {NUL_RULE}")
    assert await rows(service, orders) == []


async def test_post_orders_with_a_nul_is_refused_naming_the_field(
    service: Service, client: httpx.AsyncClient
) -> None:
    body = json.loads(make_order(random.Random(5)).model_dump_json())
    body["shipping_address"]["city"] = "Paris\x00"

    r = await client.post("/orders", json=body)

    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {"type": "value_error", "loc": ["body", "shipping_address", "city"], "msg": NUL_RULE}
        ]
    }
    assert await rows(service, outbox) == []


async def test_an_order_looked_up_by_a_nul_is_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    r = await client.get("/orders/%00")

    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path"]
