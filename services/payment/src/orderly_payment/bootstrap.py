"""Builds the payment service from settings; nothing connects until it starts."""

from __future__ import annotations

from pathlib import Path

from orderly_kit.service import Service, build_service
from orderly_payment import __version__
from orderly_payment.adapters import orm
from orderly_payment.adapters.providers import PaymentProvider, SimulatedProvider
from orderly_payment.entrypoints import consumers, http
from orderly_payment.settings import PaymentSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def provider_for(settings: PaymentSettings) -> PaymentProvider:
    """The provider adapter the settings name."""
    match settings.provider:
        case "simulated":
            return SimulatedProvider()


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
    consumers.register(service, provider=provider or provider_for(settings))
    service.http.include_router(http.router(service))
    return service
