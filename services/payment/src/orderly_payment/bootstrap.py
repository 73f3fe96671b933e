"""Builds the payment service from settings; nothing connects until it starts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from orderly_kit.db import Database
from orderly_kit.service import Service, build_service
from orderly_payment import __version__
from orderly_payment.adapters import orm
from orderly_payment.adapters.providers import PaymentProvider, SimulatedProvider
from orderly_payment.domain.payments import RefundRetryPolicy
from orderly_payment.entrypoints import consumers, http, jobs
from orderly_payment.settings import PaymentSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def provider_for(settings: PaymentSettings, *, database: Database) -> PaymentProvider:
    """The provider adapter the settings name."""
    match settings.provider:
        case "simulated":
            # Its record lives in our database but it commits on its own connections.
            return SimulatedProvider(database)


def refund_retry_policy(settings: PaymentSettings) -> RefundRetryPolicy:
    return RefundRetryPolicy(
        max_attempts=settings.refund_max_attempts,
        backoff=timedelta(seconds=settings.refund_retry_backoff_seconds),
        backoff_max=timedelta(seconds=settings.refund_retry_backoff_max_seconds),
    )


def build(
    settings: PaymentSettings | None = None, *, provider: PaymentProvider | None = None
) -> Service:
    """The payment service, wired; ``provider`` overrides the one the settings name."""
    settings = settings or PaymentSettings()
    service = build_service(
        settings,
        title="Orderly payment service",
        version=__version__,
        metadata=orm.metadata,
        outbox=orm.outbox,
        inbox=orm.inbox,
        migrations_dir=MIGRATIONS,
    )
    provider = provider or provider_for(settings, database=service.database)
    retry = refund_retry_policy(settings)
    consumers.register(service, provider=provider, retry=retry)
    jobs.register(
        service, provider=provider, retry=retry, poll_seconds=settings.refund_retry_poll_seconds
    )
    service.http.include_router(http.router(service))
    return service
