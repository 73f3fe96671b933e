"""Builds the inventory service from settings; nothing connects until it starts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from orderly_inventory import __version__
from orderly_inventory.adapters import orm
from orderly_inventory.adapters.carrier import (
    Carrier,
    ReturnSchedule,
    SimulatedCarrier,
    TrackingSchedule,
)
from orderly_inventory.domain.errors import InventoryError
from orderly_inventory.entrypoints import consumers, jobs
from orderly_inventory.entrypoints.http import (
    catalogue,
    erp,
    errors,
    ledger,
    receiving,
    replacements,
    returns,
    stock,
    stocktakes,
    tracking,
    transfers,
)
from orderly_inventory.settings import InventorySettings, carrier_slug
from orderly_kit.clock import Clock, utc_now
from orderly_kit.service import Service, build_service

MIGRATIONS = Path(__file__).parent / "migrations"


def build(
    settings: InventorySettings | None = None,
    *,
    carrier: Carrier | None = None,
    clock: Clock = utc_now,
) -> Service:
    """The inventory service, wired; ``carrier`` overrides the simulated one, ``clock`` the
    system clock."""
    settings = settings or InventorySettings()
    service = build_service(
        settings,
        title="Orderly inventory service",
        version=__version__,
        metadata=orm.metadata,
        outbox=orm.outbox,
        customer_keys=orm.customer_keys,
        inbox=orm.inbox,
        migrations_dir=MIGRATIONS,
        clock=clock,
    )
    carrier = carrier or SimulatedCarrier(
        service.database,
        settings.carrier_name,
        schedule=TrackingSchedule(
            in_transit_after=timedelta(seconds=settings.carrier_in_transit_after_seconds),
            out_for_delivery_after=timedelta(
                seconds=settings.carrier_out_for_delivery_after_seconds
            ),
            delivered_after=timedelta(seconds=settings.delivery_delay_seconds),
        ),
        return_schedule=ReturnSchedule(
            in_transit_after=timedelta(seconds=settings.carrier_return_in_transit_after_seconds),
            delivered_after=timedelta(seconds=settings.carrier_return_delivered_after_seconds),
        ),
        clock=clock,
    )
    tolerance = timedelta(seconds=settings.carrier_webhook_tolerance_seconds)
    consumers.register(
        service,
        carrier=carrier,
        reservation_ttl=timedelta(seconds=settings.reservation_ttl_seconds),
        pick_delay=timedelta(seconds=settings.pick_delay_seconds),
        policy=settings.allocation_policy,
        regions=settings.region_map(),
    )
    jobs.register(
        service,
        expiry_poll_seconds=settings.reservation_expiry_poll_seconds,
        carrier=carrier,
        pick_poll_seconds=settings.pick_poll_seconds,
        tracking_poll_seconds=settings.delivery_poll_seconds,
        webhook_url=settings.webhook_url,
        webhook_secret=settings.webhook_secrets[0],
        # A replay is refused for its timestamp once older than the tolerance (either way).
        webhook_deliveries_kept=max(2 * tolerance, timedelta(days=1)),
    )
    service.http.include_router(
        tracking.router(
            service,
            carriers={carrier_slug(carrier.name): carrier},
            webhook_secrets=settings.webhook_secrets,
            webhook_tolerance=tolerance,
        )
    )
    service.http.include_router(stocktakes.router(service))
    service.http.include_router(transfers.router(service))
    service.http.include_router(receiving.router(service))
    service.http.include_router(returns.router(service))
    service.http.include_router(replacements.router(service))
    service.http.include_router(catalogue.router(service))
    service.http.include_router(stock.router(service))
    service.http.include_router(ledger.router(service))
    service.http.include_router(erp.router(service))
    service.http.add_exception_handler(InventoryError, errors.refused)
    return service
