"""Builds the support service from settings; nothing connects until it starts."""

from __future__ import annotations

from pathlib import Path

from orderly_kit.clock import Clock, utc_now
from orderly_kit.service import Service, build_service
from orderly_support import __version__
from orderly_support.adapters import orm
from orderly_support.domain.refusals import Refusal
from orderly_support.entrypoints import consumers, jobs
from orderly_support.entrypoints.http import after_sales, cases, feedback, refusals
from orderly_support.settings import SupportSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: SupportSettings | None = None, *, clock: Clock = utc_now) -> Service:
    """The support service, wired; ``clock`` tells its use cases the time (tests move it)."""
    settings = settings or SupportSettings()
    service = build_service(
        settings,
        title="Orderly support service",
        version=__version__,
        metadata=orm.metadata,
        outbox=orm.outbox,
        inbox=orm.inbox,
        customer_keys=orm.customer_keys,
        migrations_dir=MIGRATIONS,
        clock=clock,
    )
    consumers.register(service)
    jobs.register(service)
    service.http.include_router(cases.router(service))
    service.http.include_router(feedback.router(service))
    service.http.include_router(after_sales.router(service))
    service.http.add_exception_handler(Refusal, refusals.refused)
    return service
