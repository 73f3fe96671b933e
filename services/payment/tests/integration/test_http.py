"""GET /payments/{order_id} over a real database, fed through the handlers.

The service is built but not started: ASGITransport sends no lifespan events, so
no Kafka consumer starts, and the route uses the service's own database pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest

from orderly_kit import migrations
from orderly_kit.service import Service
from orderly_payment import handlers
from orderly_payment.adapters.providers import SimulatedProvider
from orderly_payment.bootstrap import MIGRATIONS, build
from orderly_payment.settings import PaymentSettings
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails
from orderly_schemas.payment import CapturePayment, RefundPayment


@pytest.fixture
async def service(fresh_database: str) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    built = build(PaymentSettings(database_url=fresh_database, log_json=False))
    yield built
    await built.database.dispose()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://payment") as c:
        yield c


async def test_a_payment_is_shown_with_its_refunds(
    service: Service, client: httpx.AsyncClient
) -> None:
    order_id = uuid4()
    provider = SimulatedProvider(service.database)
    async with service.messaging.unit_of_work() as uow:
        await handlers.capture_payment(
            uow,
            CapturePayment(
                order_id=order_id,
                amount=Money(amount=2500, currency="EUR"),
                payment=PaymentDetails(method="debit_card", token="tok_visa_ok"),
            ),
            provider=provider,
        )
    for refund_id, amount in (("r1", 1000), ("r2", 500)):
        async with service.messaging.unit_of_work() as uow:
            await handlers.refund_payment(
                uow,
                RefundPayment(
                    order_id=order_id,
                    refund_id=refund_id,
                    amount=Money(amount=amount, currency="EUR"),
                    reason="customer cancelled",
                ),
                provider=provider,
            )

    response = await client.get(f"/payments/{order_id}")

    assert response.status_code == 200
    body = response.json()
    assert (body["order_id"], body["status"], body["method"]) == (
        str(order_id),
        "captured",
        "debit_card",
    )
    assert (body["amount"], body["currency"], body["refunded_amount"]) == (2500, "EUR", 1500)
    assert [(r["refund_id"], r["amount"], r["status"], r["attempts"]) for r in body["refunds"]] == [
        ("r1", 1000, "succeeded", 1),
        ("r2", 500, "succeeded", 1),
    ]


async def test_an_order_without_a_payment_is_not_found(client: httpx.AsyncClient) -> None:
    order_id = uuid4()

    response = await client.get(f"/payments/{order_id}")

    assert response.status_code == 404
    assert str(order_id) in response.json()["detail"]


async def test_an_order_id_that_is_not_a_uuid_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.get("/payments/ORD-0000001")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "order_id"]
