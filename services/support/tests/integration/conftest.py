"""The support service on a fresh, migrated database, told the time by a ManualClock.

The service is built as in production but not started (ASGITransport sends no lifespan
events: no Kafka, no jobs running on their own); ``consuming`` runs its real subscribers
on FastStream's in-memory broker. ``support`` is a small driver: it makes
orders known as the order lifecycle would (through the real use cases, each in its own
unit of work), runs a job of the service once, reads the outbox and the audit log, and
makes the headers of a customer's or an agent's request. ``client`` calls the HTTP API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from sqlalchemy import select

from orderly_dev.identity import DevIssuer
from orderly_kit import migrations
from orderly_kit.auth import Role
from orderly_kit.clock import ManualClock
from orderly_kit.service import Service
from orderly_schemas import topics
from orderly_schemas.base import Money, OrderLine
from orderly_schemas.order import OrderConfirmed, OrderDelivered
from orderly_support import use_cases
from orderly_support.adapters.orm import outbox
from orderly_support.bootstrap import MIGRATIONS, build
from orderly_support.settings import SupportSettings

#: When the tests' orders are confirmed; delivered a day later.
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MUG, TEA = "MUG-001", "TEA-002"


@dataclass(frozen=True)
class KnownOrder:
    order_id: UUID
    order_number: str
    customer_id: str


@dataclass
class Support:
    """Drives the service as its neighbours and its users would."""

    service: Service
    clock: ManualClock
    identity: DevIssuer
    _numbers: int = 0

    async def order_confirmed(self, customer_id: str) -> KnownOrder:
        """An order of two mugs and a tea of ``customer_id``, as OrderConfirmed tells it."""
        self._numbers += 1
        order = KnownOrder(uuid4(), f"ORD-{self._numbers:07d}", customer_id)
        price = Money(amount=1299, currency="EUR")
        event = OrderConfirmed(
            order_id=order.order_id,
            order_number=order.order_number,
            customer_id=customer_id,
            occurred_at=self.clock(),
            lines=[
                OrderLine(sku=MUG, quantity=2, unit_price=price),
                OrderLine(sku=TEA, quantity=1, unit_price=price),
            ],
            total=Money(amount=3 * 1299, currency="EUR"),
        )
        async with self.service.messaging.unit_of_work() as uow:
            await use_cases.orders.record_order_confirmed(uow, event)
        return order

    async def order_delivered(self, order: KnownOrder) -> None:
        event = OrderDelivered(
            order_id=order.order_id,
            order_number=order.order_number,
            customer_id=order.customer_id,
            occurred_at=self.clock(),
            delivered_at=self.clock(),
        )
        async with self.service.messaging.unit_of_work() as uow:
            await use_cases.orders.record_order_delivered(uow, event)

    async def delivered_order(self, customer_id: str) -> KnownOrder:
        order = await self.order_confirmed(customer_id)
        await self.order_delivered(order)
        return order

    async def run_job(self, name: str) -> None:
        """Run the service's periodic job ``name`` once, as its schedule would."""
        [job] = [job for job_name, _, job in self.service.jobs if job_name == name]
        await job()

    async def published(self) -> list[tuple[str, str | None, dict[str, Any]]]:
        """(type, key, payload) of every support event in the outbox, in order."""
        async with self.service.database.sessions() as session:
            rows = await session.execute(
                select(outbox.c.message_type, outbox.c.message_key, outbox.c.payload)
                .where(outbox.c.topic == topics.SUPPORT_EVENTS)
                .order_by(outbox.c.id)
            )
            return [(kind, key, json.loads(payload)) for kind, key, payload in rows.tuples()]

    async def published_types(self) -> list[str]:
        return [kind for kind, _, _ in await self.published()]

    async def audited(self, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        log = await client.get("/audit", headers=self.identity.headers(Role.ADMIN))
        items: list[dict[str, Any]] = log.json()["items"]
        return items

    def customer(self, customer_id: str) -> dict[str, str]:
        """The headers of a request by customer ``customer_id``."""
        return self.identity.headers(
            Role.CUSTOMER, sub=f"user-{customer_id}", customer_id=customer_id
        )

    def agent(self, sub: str = "alice") -> dict[str, str]:
        """The headers of a request by support agent ``sub``."""
        return self.identity.headers(Role.SUPPORT, sub=sub)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def service(fresh_database: str, clock: ManualClock) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    built = build(SupportSettings(database_url=fresh_database, log_json=False), clock=clock)
    yield built
    await built.database.dispose()


@pytest.fixture
def support(service: Service, clock: ManualClock, identity: DevIssuer) -> Support:
    return Support(service, clock, identity)


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.http)
    async with httpx.AsyncClient(transport=transport, base_url="http://support") as c:
        yield c


@pytest.fixture
async def consuming(service: Service) -> AsyncIterator[KafkaBroker]:
    """The service's subscribers on FastStream's in-memory broker."""
    service.consumer()  # the subscriber start() builds, for FastStream's test broker
    async with TestKafkaBroker(service.broker) as broker:
        yield broker
