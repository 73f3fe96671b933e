"""Builds the payment service from settings; nothing connects until it starts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from orderly_kit.clock import Clock, utc_now
from orderly_kit.db import Database
from orderly_kit.service import Service, build_service
from orderly_payment import __version__
from orderly_payment.adapters import orm
from orderly_payment.adapters.providers import PaymentProvider, Providers, SimulatedProvider
from orderly_payment.domain.payments import RefundRetryPolicy
from orderly_payment.entrypoints import consumers, jobs
from orderly_payment.entrypoints.http import payments, webhooks
from orderly_payment.settings import PaymentSettings
from orderly_payment.use_cases.payments import Gateway
from orderly_schemas import topics

MIGRATIONS = Path(__file__).parent / "migrations"


def providers_for(
    settings: PaymentSettings, *, database: Database, clock: Clock = utc_now
) -> Providers:
    """The provider adapter of each payment method, as the settings name them; the simulated
    ones keep time by ``clock``."""
    adapters: dict[str, PaymentProvider] = {}
    for name in set(settings.providers.values()):
        # Simulated: their record lives in our database, but they commit on their own.
        adapters[name] = SimulatedProvider(
            database,
            name=name,
            webhook_delay=timedelta(seconds=settings.sim_webhook_delay_seconds),
            hold_seconds=settings.sim_hold_seconds,
            clock=clock,
        )
    return Providers({method: adapters[name] for method, name in settings.providers.items()})


def refund_retry_policy(settings: PaymentSettings) -> RefundRetryPolicy:
    return RefundRetryPolicy(
        max_attempts=settings.refund_max_attempts,
        backoff=timedelta(seconds=settings.refund_retry_backoff_seconds),
        backoff_max=timedelta(seconds=settings.refund_retry_backoff_max_seconds),
    )


def build(
    settings: PaymentSettings | None = None,
    *,
    providers: Providers | None = None,
    clock: Clock = utc_now,
) -> Service:
    """The payment service, wired; ``providers`` override the ones the settings name,
    ``clock`` the system clock."""
    settings = settings or PaymentSettings()
    service = build_service(
        settings,
        title="Orderly payment service",
        version=__version__,
        metadata=orm.metadata,
        outbox=orm.outbox,
        inbox=orm.inbox,
        migrations_dir=MIGRATIONS,
        # Card numbers never enter: a command carries the provider's token only.
        card_data_topics=[topics.PAYMENT_COMMANDS],
        clock=clock,
    )
    gateway = Gateway(
        providers=providers or providers_for(settings, database=service.database, clock=clock),
        database=service.database,
        retry=refund_retry_policy(settings),
    )
    consumers.register(service, gateway=gateway)
    jobs.register(
        service,
        gateway=gateway,
        poll_seconds=settings.refund_retry_poll_seconds,
        webhook_poll_seconds=settings.sim_webhook_poll_seconds,
        webhook_url=settings.simulated_webhook_url,
        webhook_secret=lambda name: settings.webhook_secrets_of(name)[0],
    )
    service.http.include_router(payments.router(service, gateway=gateway))
    service.http.include_router(
        webhooks.router(
            service,
            gateway=gateway,
            secrets={p.name: settings.webhook_secrets_of(p.name) for p in gateway.providers.all()},
            tolerance=timedelta(seconds=settings.webhook_tolerance_seconds),
        )
    )
    return service
