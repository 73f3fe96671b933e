"""The payment service's HTTP API over a real database, fed through the real handlers.

The service is built but not started: ASGITransport sends no lifespan events, so no
Kafka consumer and no job runs, and the routes use the service's own database pool.
Payments are made (and refunded by the saga) the way the consumers make them, with
the simulated providers the settings name; what finance does goes over HTTP. The
service keeps time by ``clock``, which a test moves on past a refund's backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import func, select, text

from orderly_dev.identity import DevIssuer
from orderly_kit import migrations
from orderly_kit.auth import Role
from orderly_kit.clock import ManualClock
from orderly_kit.service import Service
from orderly_payment import use_cases
from orderly_payment.adapters import orm
from orderly_payment.bootstrap import MIGRATIONS, build, providers_for, refund_retry_policy
from orderly_payment.settings import PaymentSettings
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails, PaymentMethod
from orderly_schemas.payment import CapturePayment, ChargePayment, RefundPayment


@pytest.fixture
def settings(fresh_database: str) -> PaymentSettings:
    # Two attempts: a refund the provider keeps rejecting fails at its first retry.
    return PaymentSettings(database_url=fresh_database, log_json=False, refund_max_attempts=2)


@pytest.fixture
async def service(settings: PaymentSettings, clock: ManualClock) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, settings.database_url)
    built = build(settings, clock=clock)
    yield built
    await built.database.dispose()


@pytest.fixture
async def client(service: Service, identity: DevIssuer) -> AsyncIterator[httpx.AsyncClient]:
    """Finance's Anna, at the payment API."""
    transport = httpx.ASGITransport(app=service.http)
    anna = identity.headers(Role.FINANCE, sub="fin.anna")
    async with httpx.AsyncClient(transport=transport, base_url="http://payment", headers=anna) as c:
        yield c


class Shop:
    """Pays, charges and refunds as the saga would, and reads back what the provider executed."""

    def __init__(self, service: Service, settings: PaymentSettings) -> None:
        self.service = service
        self.gateway = use_cases.payments.Gateway(
            providers=providers_for(
                settings, database=service.database, clock=service.messaging.clock
            ),
            database=service.database,
            retry=refund_retry_policy(settings),
        )

    async def pay(
        self,
        amount: int = 4999,
        *,
        currency: str = "EUR",
        method: PaymentMethod = "credit_card",
        token: str = "tok_ok_1",
        order_id: UUID | None = None,
        **display: Any,
    ) -> UUID:
        """A new order's payment, authorized and captured (or declined, by its token)."""
        order_id = order_id or uuid4()
        async with self.service.messaging.unit_of_work() as uow:
            await use_cases.payments.capture_payment(
                uow,
                CapturePayment(
                    order_id=order_id,
                    amount=Money(amount=amount, currency=currency),
                    payment=PaymentDetails(method=method, token=token, **display),
                ),
                gateway=self.gateway,
            )
        return order_id

    async def saga_refund(self, order_id: UUID, amount: int, refund_id: str = "r1") -> None:
        async with self.service.messaging.unit_of_work() as uow:
            await use_cases.payments.refund_payment(
                uow,
                RefundPayment(
                    order_id=order_id,
                    refund_id=f"{order_id}:{refund_id}",
                    amount=Money(amount=amount, currency="EUR"),
                    reason="customer cancelled",
                ),
                gateway=self.gateway,
            )

    async def charge(self, order_id: UUID, amount: int, charge_id: str = "x1") -> None:
        """An exchange's price difference, charged to the order's method."""
        async with self.service.messaging.unit_of_work() as uow:
            await use_cases.payments.charge_payment(
                uow,
                ChargePayment(
                    order_id=order_id,
                    charge_id=f"{order_id}:{charge_id}",
                    amount=Money(amount=amount, currency="EUR"),
                    payment=PaymentDetails(method="credit_card", token="tok_ok_1"),
                    reason="exchange",
                ),
                gateway=self.gateway,
            )

    async def retry_due_refunds(self) -> int:
        """One scan of the refund retry job."""
        return await use_cases.payments.retry_due_refunds(
            self.service.messaging, gateway=self.gateway
        )

    async def provider_refunds(self, order_id: UUID) -> int:
        """How many refunds the provider executed (or refused) for the order."""
        c = orm.sim_provider_operations.c
        query = select(func.count()).where(c.order_id == order_id).where(c.kind == "refund")
        async with self.service.database.sessions() as s:
            return int((await s.execute(query)).scalar_one())

    async def sql(self, statement: str, **params: Any) -> None:
        async with self.service.database.transaction() as s:
            await s.execute(text(statement), params)

    async def answered(self, order_id: UUID, kind: str, at: datetime) -> None:
        """Move the order's succeeded ``kind`` entries of the ledger to another moment."""
        await self.sql(
            "UPDATE payment_operations SET answered_at = :at"
            " WHERE order_id = :id AND kind = :kind AND status = 'succeeded'",
            at=at,
            id=order_id,
            kind=kind,
        )


@pytest.fixture
def shop(service: Service, settings: PaymentSettings) -> Shop:
    return Shop(service, settings)
