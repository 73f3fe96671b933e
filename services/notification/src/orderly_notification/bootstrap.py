"""Builds the notification service from settings; nothing connects until it starts."""

from __future__ import annotations

from pathlib import Path

from orderly_kit.clock import Clock, utc_now
from orderly_kit.service import Service, build_service
from orderly_notification import __version__
from orderly_notification.adapters import orm
from orderly_notification.adapters.channels import Channel, LogChannel
from orderly_notification.entrypoints import consumers
from orderly_notification.entrypoints.http import notifications
from orderly_notification.settings import NotificationSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(
    settings: NotificationSettings | None = None,
    *,
    channel: Channel | None = None,
    clock: Clock = utc_now,
) -> Service:
    """The notification service, wired; ``channel`` replaces the log channel (tests),
    ``clock`` the system clock."""
    settings = settings or NotificationSettings()
    service = build_service(
        settings,
        title="Orderly notification service",
        version=__version__,
        metadata=orm.metadata,
        outbox=orm.outbox,
        inbox=orm.inbox,
        customer_keys=orm.customer_keys,
        migrations_dir=MIGRATIONS,
        clock=clock,
    )
    consumers.register(service, channel=channel or LogChannel())
    service.http.include_router(notifications.router(service))
    return service
