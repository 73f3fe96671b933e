"""GET /notifications over a real database, fed through the handlers.

The service is built but not started: ASGITransport sends no lifespan events, so
no Kafka consumer starts, and the route uses the service's own database pool.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import httpx
import pytest

from orderly_dev.identity import DevIssuer
from orderly_dev.notifications import VAULT
from orderly_kit import migrations
from orderly_kit.auth import Role
from orderly_kit.service import Service
from orderly_notification import use_cases
from orderly_notification.adapters.channels import LogChannel
from orderly_notification.bootstrap import MIGRATIONS, build
from orderly_notification.settings import NotificationSettings
from orderly_schemas.base import Money, OrderLine
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.order import OrderCompleted, OrderConfirmed, OrderPaid

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOTAL = Money(amount=990, currency="EUR")


@pytest.fixture
async def service(fresh_database: str) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    built = build(NotificationSettings(database_url=fresh_database, log_json=False))
    yield built
    await built.database.dispose()


@pytest.fixture
async def client(service: Service, identity: DevIssuer) -> AsyncIterator[httpx.AsyncClient]:
    """Support, at the API."""
    transport = httpx.ASGITransport(app=service.http)
    support = identity.headers(Role.SUPPORT, sub="sam")
    async with httpx.AsyncClient(
        transport=transport, base_url="http://notification", headers=support
    ) as c:
        yield c


async def a_notified_order(service: Service) -> UUID:
    """An order whose confirmation, payment and completion were notified, in that order."""
    order_id = uuid4()
    common = {
        "order_id": order_id,
        "order_number": "ORD-0000001",
        "customer_id": "C1",
        "occurred_at": AT,
    }
    channel = LogChannel()
    confirmed = OrderConfirmed(
        **common,
        personal=VAULT.sealed_data(os.urandom(32), "C1", {"customer_email": "ada@example.com"}),
        lines=[OrderLine(sku="DEMO-0001", quantity=1, unit_price=TOTAL)],
        total=TOTAL,
    )
    for event in (
        confirmed,
        OrderPaid(**common, amount=TOTAL, payment_id="pay_1"),
        OrderCompleted(**common, confirmed_by="customer"),
    ):
        cause = Envelope(type=event.message_type(), source="/test")
        async with service.messaging.unit_of_work(cause=cause) as uow:
            if isinstance(event, OrderConfirmed):
                await use_cases.notifications.send_order_confirmation(uow, event, channel=channel)
            else:
                await use_cases.notifications.notify_customer(uow, event, channel=channel)
    return order_id


async def test_an_orders_notifications_are_listed_newest_first(
    service: Service, client: httpx.AsyncClient
) -> None:
    order_id = await a_notified_order(service)
    await a_notified_order(service)

    response = await client.get("/notifications", params={"order_id": str(order_id)})

    assert response.status_code == 200
    body = response.json()
    assert [n["event_type"] for n in body] == ["OrderCompleted", "OrderPaid", "OrderConfirmed"]
    assert {n["order_id"] for n in body} == {str(order_id)}
    # Named by id; support finds the address on the order, where it is kept.
    assert body[0]["recipient"] == "customer:C1"
    assert "ada@example.com" not in response.text
    assert body[0]["status"] == "sent"


async def test_a_page_of_notifications(service: Service, client: httpx.AsyncClient) -> None:
    order_id = await a_notified_order(service)

    response = await client.get(
        "/notifications", params={"order_id": str(order_id), "limit": 1, "offset": 1}
    )

    assert [n["event_type"] for n in response.json()] == ["OrderPaid"]


async def test_an_unknown_order_has_no_notifications(client: httpx.AsyncClient) -> None:
    response = await client.get("/notifications", params={"order_id": str(uuid4())})

    assert (response.status_code, response.json()) == (200, [])


async def test_more_than_200_at_once_is_refused_naming_the_limit(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/notifications", params={"limit": 201})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_an_order_id_that_is_not_a_uuid_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/notifications", params={"order_id": "ORD-0000001"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "order_id"]


async def test_notifications_name_recipients_so_only_support_reads_them(
    service: Service, identity: DevIssuer
) -> None:
    await a_notified_order(service)
    transport = httpx.ASGITransport(app=service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://notification") as c:
        anonymous = await c.get("/notifications")
        customer = await c.get("/notifications", headers=identity.headers(Role.CUSTOMER))
        warehouse = await c.get("/notifications", headers=identity.headers(Role.WAREHOUSE))
    assert (anonymous.status_code, customer.status_code, warehouse.status_code) == (401, 403, 403)
    assert "ada@example.com" not in anonymous.text + customer.text + warehouse.text
