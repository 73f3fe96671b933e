"""The payment handlers on a fresh, migrated database, with the durable simulated provider.

``payments`` is a small driver: it sends commands through the real handlers, each in
its own unit of work, runs the refund retry job, and reads back what a user (or
finance) would see: our rows, the outbox, and the provider's own record.

Time is ``clock``, a ManualClock that the handlers and the simulated provider read:
a test moves it on past a backoff or a webhook's delay instead of sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, get_args
from uuid import UUID

import pytest
from sqlalchemy import Table, select

from orderly_kit import migrations
from orderly_kit.clock import ManualClock
from orderly_kit.db import Database
from orderly_kit.messaging import Messaging
from orderly_kit.outbox import OutboxSignal
from orderly_payment import use_cases
from orderly_payment.adapters import orm
from orderly_payment.adapters.providers import (
    PaymentProvider,
    ProviderResult,
    Providers,
    SimulatedProvider,
)
from orderly_payment.bootstrap import MIGRATIONS
from orderly_payment.domain.payments import RefundRetryPolicy
from orderly_payment.use_cases.payments import Gateway
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails, PaymentMethod
from orderly_schemas.payment import CapturePayment, ChargePayment, RefundPayment

TOTAL = Money(amount=4999, currency="EUR")
#: What an exchange charges more, by default.
DIFFERENCE = Money(amount=700, currency="EUR")
#: Waits of a real length (40 s doubling to 120 s): a test moves the clock on through them.
RETRY = RefundRetryPolicy(
    max_attempts=5, backoff=timedelta(seconds=40), backoff_max=timedelta(seconds=120)
)


class CountingProvider(SimulatedProvider):
    """The durable simulated card provider, counting the calls it gets."""

    def __init__(self, database: Database, **options: Any) -> None:
        super().__init__(database, name="sim-card", **options)
        self.authorizations = 0
        self.captures = 0
        self.voids = 0
        self.refunds = 0
        self.charges = 0

    async def authorize(
        self, *, idempotency_key: str, order_id: UUID, amount: Money, token: str
    ) -> ProviderResult:
        self.authorizations += 1
        return await super().authorize(
            idempotency_key=idempotency_key, order_id=order_id, amount=amount, token=token
        )

    async def capture(
        self, *, idempotency_key: str, order_id: UUID, authorization_reference: str, amount: Money
    ) -> ProviderResult:
        self.captures += 1
        return await super().capture(
            idempotency_key=idempotency_key,
            order_id=order_id,
            authorization_reference=authorization_reference,
            amount=amount,
        )

    async def void(
        self, *, idempotency_key: str, order_id: UUID, authorization_reference: str, amount: Money
    ) -> ProviderResult:
        self.voids += 1
        return await super().void(
            idempotency_key=idempotency_key,
            order_id=order_id,
            authorization_reference=authorization_reference,
            amount=amount,
        )

    async def refund(
        self, *, idempotency_key: str, order_id: UUID, payment_reference: str, amount: Money
    ) -> ProviderResult:
        self.refunds += 1
        return await super().refund(
            idempotency_key=idempotency_key,
            order_id=order_id,
            payment_reference=payment_reference,
            amount=amount,
        )

    async def charge(
        self, *, idempotency_key: str, order_id: UUID, amount: Money, token: str
    ) -> ProviderResult:
        self.charges += 1
        return await super().charge(
            idempotency_key=idempotency_key, order_id=order_id, amount=amount, token=token
        )


def gateway_of(messaging: Messaging, provider: PaymentProvider) -> Gateway:
    """Every payment method paid through ``provider``, refunds retried quickly."""
    return Gateway(
        providers=Providers(dict.fromkeys(get_args(PaymentMethod), provider)),
        database=messaging.database,
        retry=RETRY,
    )


@pytest.fixture
def clock() -> ManualClock:
    """The service's time: now, standing still until the test moves it on."""
    return ManualClock()


@pytest.fixture
async def messaging(fresh_database: str, clock: ManualClock) -> AsyncIterator[Messaging]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    db = Database(fresh_database, pool_size=5)
    yield Messaging(
        database=db,
        outbox=orm.outbox,
        inbox=orm.inbox,
        service="payment",
        signal=OutboxSignal(),
        clock=clock,
    )
    await db.dispose()


@pytest.fixture
def provider(messaging: Messaging) -> CountingProvider:
    return CountingProvider(messaging.database, clock=messaging.clock)


def capture_command(order_id: UUID, token: str = "tok_visa_ok") -> CapturePayment:
    return CapturePayment(
        order_id=order_id, amount=TOTAL, payment=PaymentDetails(method="credit_card", token=token)
    )


def refund_command(
    order_id: UUID, refund_id: str = "r1", amount: int = TOTAL.amount
) -> RefundPayment:
    return RefundPayment(
        order_id=order_id,
        refund_id=refund_id,
        amount=Money(amount=amount, currency="EUR"),
        reason="customer cancelled",
    )


def charge_command(
    order_id: UUID,
    charge_id: str = "exchange:rma-1",
    amount: Money = DIFFERENCE,
    token: str = "tok_visa_ok",
) -> ChargePayment:
    return ChargePayment(
        order_id=order_id,
        charge_id=charge_id,
        amount=amount,
        payment=PaymentDetails(method="credit_card", token=token),
        reason="exchange: the replacement costs more",
    )


class Payments:
    """Drives the handlers the way the saga would and shows what a user would see."""

    def __init__(self, messaging: Messaging, provider: CountingProvider) -> None:
        self.messaging = messaging
        self.use(provider)

    def use(self, provider: PaymentProvider) -> None:
        """Pay through ``provider`` from now on."""
        self.provider = provider
        self.gateway = gateway_of(self.messaging, provider)

    async def capture(self, order_id: UUID, token: str = "tok_visa_ok") -> None:
        async with self.messaging.unit_of_work() as uow:
            await use_cases.payments.capture_payment(
                uow, capture_command(order_id, token), gateway=self.gateway
            )

    async def refund(self, order_id: UUID, refund_id: str = "r1", amount: int = 4999) -> None:
        async with self.messaging.unit_of_work() as uow:
            await use_cases.payments.refund_payment(
                uow, refund_command(order_id, refund_id, amount), gateway=self.gateway
            )

    async def charge(
        self,
        order_id: UUID,
        charge_id: str = "exchange:rma-1",
        amount: Money = DIFFERENCE,
        token: str = "tok_visa_ok",
    ) -> None:
        async with self.messaging.unit_of_work() as uow:
            await use_cases.payments.charge_payment(
                uow, charge_command(order_id, charge_id, amount, token), gateway=self.gateway
            )

    async def retry_due(self) -> int:
        """One scan of the refund retry job."""
        return await use_cases.payments.retry_due_refunds(self.messaging, gateway=self.gateway)

    async def retry_until_settled(self, refund_id: str) -> None:
        """Move the clock to each next attempt of the refund and run the retry job then,
        until the refund is no longer pending."""
        clock = self.messaging.clock
        assert isinstance(clock, ManualClock)
        for _ in range(RETRY.max_attempts):
            refund = await self.refund_row(refund_id)
            if refund["status"] != "pending":
                return
            clock.advance(max(refund["next_attempt_at"] - clock(), timedelta(0)))
            await self.retry_due()
        raise AssertionError(f"refund {refund_id} still pending after {RETRY.max_attempts} scans")

    async def published(self) -> list[tuple[str, dict[str, Any]]]:
        """(type, body) of every message written to the outbox, oldest first."""
        c = orm.outbox.c
        async with self.messaging.database.sessions() as s:
            rows = await s.execute(select(c.message_type, c.payload).order_by(c.id))
            return [(kind, json.loads(payload)) for kind, payload in rows]

    async def kinds(self) -> list[str]:
        return [kind for kind, _ in await self.published()]

    async def rows(self, table: Table) -> list[dict[str, Any]]:
        async with self.messaging.database.sessions() as s:
            return [dict(r) for r in (await s.execute(select(table))).mappings()]

    async def refund_row(self, refund_id: str) -> dict[str, Any]:
        query = select(orm.refunds).where(orm.refunds.c.refund_id == refund_id)
        async with self.messaging.database.sessions() as s:
            return dict((await s.execute(query)).mappings().one())

    async def attempts(self, refund_id: str) -> list[dict[str, Any]]:
        """The refund's provider attempts, as the ledger has them."""
        c = orm.payment_operations.c
        query = select(orm.payment_operations).where(c.refund_id == refund_id).order_by(c.attempt)
        async with self.messaging.database.sessions() as s:
            return [dict(r) for r in (await s.execute(query)).mappings()]

    async def ledger(self, order_id: UUID) -> list[tuple[str, str, str]]:
        """(kind, status, idempotency key) of the order's ledger entries, oldest first."""
        c = orm.payment_operations.c
        query = (
            select(c.kind, c.status, c.idempotency_key).where(c.order_id == order_id).order_by(c.id)
        )
        async with self.messaging.database.sessions() as s:
            return [(r.kind, r.status, r.idempotency_key) for r in await s.execute(query)]

    async def provider_operations(self, order_id: UUID) -> list[tuple[str, str, str]]:
        """(kind, outcome, idempotency key) of what the provider executed for the order."""
        c = orm.sim_provider_operations.c
        query = (
            select(c.kind, c.outcome, c.idempotency_key)
            .where(c.order_id == order_id)
            .order_by(c.id)
        )
        async with self.messaging.database.sessions() as s:
            return [(r.kind, r.outcome, r.idempotency_key) for r in await s.execute(query)]


@pytest.fixture
def gateway(messaging: Messaging, provider: CountingProvider) -> Gateway:
    return gateway_of(messaging, provider)


@pytest.fixture
def payments(messaging: Messaging, provider: CountingProvider) -> Payments:
    return Payments(messaging, provider)
