"""Builds the order service from settings; nothing connects until it starts."""

from __future__ import annotations

from pathlib import Path

from orderly_kit.clock import Clock, utc_now
from orderly_kit.service import Service, build_service
from orderly_order import __version__
from orderly_order.adapters import orm
from orderly_order.domain.returns import ReturnError
from orderly_order.entrypoints import consumers, jobs
from orderly_order.entrypoints.http import claims, orders, returns
from orderly_order.settings import OrderSettings
from orderly_schemas import topics

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: OrderSettings | None = None, *, clock: Clock = utc_now) -> Service:
    """The order service, wired; ``clock`` tells its use cases the time (tests move it)."""
    settings = settings or OrderSettings()
    service = build_service(
        settings,
        title="Orderly order service",
        version=__version__,
        metadata=orm.metadata,
        outbox=orm.outbox,
        inbox=orm.inbox,
        migrations_dir=MIGRATIONS,
        # Card numbers never enter: upstream sends provider tokens only.
        card_data_topics=[topics.CHECKOUT_ORDERS],
        # Customers' names, emails and addresses are sealed at rest, a key per customer.
        customer_keys=orm.customer_keys,
        clock=clock,
    )
    consumers.register(service)
    jobs.register(service)
    service.http.include_router(orders.router(service))
    service.http.include_router(returns.router(service))
    service.http.include_router(claims.router(service))
    service.http.add_exception_handler(ReturnError, returns.refused)
    return service
