"""Who may do what with orders over HTTP: customers their own, support any, checkout places.

The service is built as in production but not started: FastStream's in-memory broker
runs the real subscriber (which creates the orders), ASGITransport the real HTTP app,
against a real, migrated database; tokens come from the session's development issuer.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator

import httpx
import pytest
from faststream.kafka import TestKafkaBroker

from orderly_dev.checkout import headers_for, make_order
from orderly_dev.identity import DevIssuer
from orderly_kit import migrations
from orderly_kit.auth import Role
from orderly_kit.service import Service
from orderly_order.bootstrap import MIGRATIONS, build
from orderly_order.settings import OrderSettings
from orderly_schemas import topics
from orderly_schemas.checkout import OrderPlaced


@pytest.fixture
async def service(fresh_database: str) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    built = build(OrderSettings(database_url=fresh_database, log_json=False))
    built.consumer()
    yield built
    await built.database.dispose()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://order") as c:
        yield c


async def an_order_of(service: Service, customer_id: str) -> OrderPlaced:
    order = make_order(random.Random(customer_id))
    order = order.model_copy(
        update={"customer": order.customer.model_copy(update={"customer_id": customer_id})}
    )
    async with TestKafkaBroker(service.broker) as broker:
        await broker.publish(
            json.loads(order.model_dump_json()),
            topic=topics.CHECKOUT_ORDERS,
            key=str(order.order_id).encode(),
            headers={k: v.decode() for k, v in headers_for(order)},
        )
    return order


def customer(identity: DevIssuer, customer_id: str) -> dict[str, str]:
    return identity.headers(Role.CUSTOMER, sub=f"user-{customer_id}", customer_id=customer_id)


async def test_a_customer_reads_their_own_order_and_not_anothers(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    mine = await an_order_of(service, "C-ADA")
    theirs = await an_order_of(service, "C-BOB")

    own = await client.get(f"/orders/{mine.order_id}", headers=customer(identity, "C-ADA"))
    other = await client.get(f"/orders/{theirs.order_id}", headers=customer(identity, "C-ADA"))
    missing = await client.get(
        "/orders/00000000-0000-4000-8000-000000000000", headers=customer(identity, "C-ADA")
    )

    assert own.status_code == 200
    assert own.json()["customer"]["customer_id"] == "C-ADA"
    # Another customer's order answers exactly as one that does not exist.
    assert (other.status_code, missing.status_code) == (404, 404)
    assert other.json()["detail"] == f"no order {str(theirs.order_id)!r}"
    assert "C-BOB" not in other.text


async def test_by_order_number_too_a_customer_sees_only_their_own(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    await an_order_of(service, "C-ADA")
    support = await client.get("/orders/ORD-0000001", headers=identity.headers(Role.SUPPORT))
    assert support.status_code == 200
    ada = await client.get("/orders/ORD-0000001", headers=customer(identity, "C-ADA"))
    bob = await client.get("/orders/ORD-0000001", headers=customer(identity, "C-BOB"))
    assert (ada.status_code, bob.status_code) == (200, 404)


async def test_a_customer_cannot_cancel_anothers_order(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    theirs = await an_order_of(service, "C-BOB")
    r = await client.post(f"/orders/{theirs.order_id}/cancel", headers=customer(identity, "C-ADA"))
    assert r.status_code == 404
    after = await client.get(f"/orders/{theirs.order_id}", headers=identity.headers(Role.SUPPORT))
    assert after.json()["status"] != "cancelled"


async def test_a_customer_cancels_their_own_order_without_giving_a_reason(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    mine = await an_order_of(service, "C-ADA")
    r = await client.post(f"/orders/{mine.order_id}/cancel", headers=customer(identity, "C-ADA"))
    assert r.status_code == 200
    assert r.json()["cancel_reason"] == "cancelled by the customer"


async def test_support_cancels_any_order_but_must_say_why(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await an_order_of(service, "C-ADA")
    support = identity.headers(Role.SUPPORT, sub="alice")

    silent = await client.post(f"/orders/{order.order_id}/cancel", headers=support)
    said = await client.post(
        f"/orders/{order.order_id}/cancel",
        headers=support,
        json={"reason": "the customer asked by phone"},
    )

    assert silent.status_code == 422
    assert silent.json()["detail"][0]["loc"] == ["body", "reason"]
    assert said.status_code == 200
    assert said.json()["cancel_reason"] == "the customer asked by phone"


async def test_only_checkout_places_orders(client: httpx.AsyncClient, identity: DevIssuer) -> None:
    body = json.loads(make_order(random.Random(3)).model_dump_json())
    body.pop("placed_at")

    as_customer = await client.post("/orders", json=body, headers=customer(identity, "C-ADA"))
    as_support = await client.post("/orders", json=body, headers=identity.headers(Role.SUPPORT))
    anonymous = await client.post("/orders", json=body)
    as_checkout = await client.post(
        "/orders", json=body, headers=identity.headers(Role.CHECKOUT, sub="checkout")
    )

    assert (as_customer.status_code, as_support.status_code) == (403, 403)
    assert anonymous.status_code == 401
    assert as_checkout.status_code == 202


async def test_only_the_customer_confirms_receipt(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order = await an_order_of(service, "C-ADA")
    by_support = await client.post(
        f"/orders/{order.order_id}/confirm-receipt", headers=identity.headers(Role.SUPPORT)
    )
    by_owner = await client.post(
        f"/orders/{order.order_id}/confirm-receipt", headers=customer(identity, "C-ADA")
    )
    assert by_support.status_code == 403
    # The owner may ask; the order has not been delivered, so the answer is a conflict.
    assert by_owner.status_code == 409


async def test_a_cancel_by_support_is_in_the_audit_log_with_its_request_and_the_customers_not(
    service: Service, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    theirs = await an_order_of(service, "C-ADA")
    own = await an_order_of(service, "C-BOB")
    support = {**identity.headers(Role.SUPPORT, sub="alice"), "X-Request-ID": "call-4711"}

    cancelled = await client.post(
        f"/orders/{theirs.order_id}/cancel", headers=support, json={"reason": "asked by phone"}
    )
    await client.post(f"/orders/{own.order_id}/cancel", headers=customer(identity, "C-BOB"))
    log = await client.get("/audit", headers=identity.headers(Role.ADMIN))

    assert cancelled.headers["X-Request-ID"] == "call-4711"
    [entry] = log.json()["items"]
    assert entry["action"] == "order.cancel"
    assert entry["target"] == f"order:{theirs.order_id}"
    assert (entry["actor"], entry["roles"], entry["request_id"]) == (
        "alice",
        "support",
        "call-4711",
    )
    assert entry["before"] == {"status": "confirmed"}
    assert entry["after"] == {"status": "cancelling", "reason": "asked by phone"}


async def test_only_admins_read_the_audit_log(
    client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    assert (await client.get("/audit")).status_code == 401
    assert (await client.get("/audit", headers=identity.headers(Role.SUPPORT))).status_code == 403
    assert (await client.get("/audit", headers=customer(identity, "C-ADA"))).status_code == 403
    assert (await client.get("/audit", headers=identity.headers(Role.ADMIN))).status_code == 200
