"""Builds the payment service from settings; nothing connects until it starts."""

from __future__ import annotations

from pathlib import Path

from orderly_kit.service import Service, build_service
from orderly_payment import __version__
from orderly_payment.adapters import orm
from orderly_payment.entrypoints import consumers, http
from orderly_payment.settings import PaymentSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: PaymentSettings | None = None) -> Service:
    """The payment service, wired."""
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
    consumers.register(service)
    service.http.include_router(http.router(service))
    return service
