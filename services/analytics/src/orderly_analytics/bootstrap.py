"""Builds the analytics service from settings; nothing connects until it starts."""

from __future__ import annotations

from pathlib import Path

from orderly_analytics import __version__
from orderly_analytics.adapters import orm
from orderly_analytics.entrypoints import consumers
from orderly_analytics.entrypoints.http import order_stages
from orderly_analytics.settings import AnalyticsSettings
from orderly_kit.clock import Clock, utc_now
from orderly_kit.service import Service, build_service
from orderly_schemas import topics

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: AnalyticsSettings | None = None, *, clock: Clock = utc_now) -> Service:
    """The analytics service, wired; ``clock`` tells its use cases the time."""
    settings = settings or AnalyticsSettings()
    service = build_service(
        settings,
        title="Orderly analytics service",
        version=__version__,
        metadata=orm.metadata,
        outbox=orm.outbox,
        inbox=orm.inbox,
        migrations_dir=MIGRATIONS,
        # Card numbers never enter: upstream sends provider tokens only.
        card_data_topics=[topics.CHECKOUT_ORDERS],
        clock=clock,
    )
    consumers.register(service)
    service.http.include_router(order_stages.router(service))
    return service
