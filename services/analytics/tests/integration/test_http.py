"""The HTTP API over a real database, fed through the handlers.

The service is built but not started: ASGITransport sends no lifespan events, so
no Kafka consumer starts, and the routes use the service's own database pool.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest

from orderly_analytics import use_cases
from orderly_analytics.bootstrap import MIGRATIONS, build
from orderly_analytics.settings import AnalyticsSettings
from orderly_dev.checkout import make_order
from orderly_dev.identity import DevIssuer
from orderly_kit import migrations
from orderly_kit.auth import Role
from orderly_kit.service import Service
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.order import OrderCompleted, OrderDispatched, OrderEvent

PLACED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def service(fresh_database: str) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    built = build(AnalyticsSettings(database_url=fresh_database, log_json=False))
    yield built
    await built.database.dispose()


@pytest.fixture
async def client(service: Service, identity: DevIssuer) -> AsyncIterator[httpx.AsyncClient]:
    """Support, at the API."""
    transport = httpx.ASGITransport(app=service.http)
    support = identity.headers(Role.SUPPORT, sub="sam")
    async with httpx.AsyncClient(
        transport=transport, base_url="http://analytics", headers=support
    ) as c:
        yield c


async def a_completed_order(service: Service, *, shipped_after: int, completed_after: int) -> str:
    """Feed OrderPlaced, OrderDispatched and OrderCompleted; return the order id."""
    order: OrderPlaced = make_order(random.Random(1)).model_copy(
        update={"order_id": uuid4(), "placed_at": PLACED_AT}
    )
    common = {
        "order_id": order.order_id,
        "order_number": "ORD-0000001",
        "customer_id": order.customer.customer_id,
    }
    lifecycle: list[OrderEvent] = [
        OrderDispatched(
            **common,
            occurred_at=PLACED_AT + timedelta(seconds=shipped_after),
            carrier="SimPost",
            tracking_numbers=["SP1"],
        ),
        OrderCompleted(
            **common,
            occurred_at=PLACED_AT + timedelta(seconds=completed_after),
            confirmed_by="auto-confirm",
        ),
    ]
    async with service.messaging.unit_of_work() as uow:
        await use_cases.order_stages.record_order_placed(uow, order)
    for event in lifecycle:
        async with service.messaging.unit_of_work() as uow:
            await use_cases.order_stages.record_order_lifecycle(uow, event)
    return str(order.order_id)


async def test_kpis_report_the_orders_placed_in_the_window(
    service: Service, client: httpx.AsyncClient
) -> None:
    await a_completed_order(service, shipped_after=60, completed_after=600)
    await a_completed_order(service, shipped_after=120, completed_after=1200)
    response = await client.get(
        "/kpis",
        params={
            "since": PLACED_AT.isoformat(),
            "until": (PLACED_AT + timedelta(days=1)).isoformat(),
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["orders_by_status"]["completed"] == 2
    assert body["orders_total"] == 2
    assert body["completion_rate"] == 1.0
    # [60, 120] → p50 90, p95 60 + 0.95 * 60 = 117; [600, 1200] → p50 900, p95 1170
    assert body["placed_to_shipped_seconds"] == {
        "p50": 90.0,
        "p95": pytest.approx(117.0),
        "count": 2,
    }
    assert body["placed_to_completed_seconds"] == {
        "p50": 900.0,
        "p95": pytest.approx(1170.0),
        "count": 2,
    }


async def test_kpis_of_an_empty_window_are_zero(
    service: Service, client: httpx.AsyncClient
) -> None:
    await a_completed_order(service, shipped_after=60, completed_after=600)
    response = await client.get("/kpis", params={"since": "2030-01-01T00:00:00Z"})
    body = response.json()
    assert (response.status_code, body["orders_total"], body["completion_rate"]) == (200, 0, None)
    assert body["placed_to_shipped_seconds"] == {"p50": None, "p95": None, "count": 0}


async def test_kpis_refuse_a_time_without_a_zone(client: httpx.AsyncClient) -> None:
    response = await client.get("/kpis", params={"since": "2026-03-01T00:00:00"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "since"]


async def test_kpis_refuse_a_window_that_ends_before_it_starts(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/kpis", params={"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "value_error",
                "loc": ["query", "until"],
                "msg": "must be later than since (2026-03-02T00:00:00+00:00)",
                "input": "2026-03-01T00:00:00+00:00",
            }
        ]
    }


async def test_the_stages_of_an_order(service: Service, client: httpx.AsyncClient) -> None:
    order_id = await a_completed_order(service, shipped_after=60, completed_after=600)
    response = await client.get(f"/orders/{order_id}/stages")
    assert response.status_code == 200
    body = response.json()
    assert (body["order_id"], body["status"], body["order_number"]) == (
        order_id,
        "completed",
        "ORD-0000001",
    )
    assert datetime.fromisoformat(body["dispatched_at"]) == PLACED_AT + timedelta(seconds=60)
    assert body["paid_at"] is None


async def test_the_stages_of_an_unknown_order_are_not_found(client: httpx.AsyncClient) -> None:
    order_id = uuid4()
    response = await client.get(f"/orders/{order_id}/stages")
    assert response.status_code == 404
    assert str(order_id) in response.json()["detail"]
