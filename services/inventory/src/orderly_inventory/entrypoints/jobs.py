"""Periodic jobs of the inventory service."""

from __future__ import annotations

from datetime import timedelta

import httpx

from orderly_inventory import use_cases
from orderly_inventory.adapters.carrier import Carrier, SimulatedCarrier
from orderly_kit import webhook_sender
from orderly_kit.service import Service


def register(
    service: Service,
    *,
    expiry_poll_seconds: float,
    carrier: Carrier,
    pick_poll_seconds: float,
    tracking_poll_seconds: float,
    webhook_url: str,
    webhook_secret: str,
    webhook_deliveries_kept: timedelta,
) -> None:
    """Schedule the reservation expiry, the hand-over of pickings (orders' and replacements')
    and the carrier's tracking."""

    async def expire_reservations() -> None:
        # Until a scan finds nothing more to expire; busy orders wait for the next poll.
        while await use_cases.fulfilment.expire_reservations(service.messaging):
            pass

    service.every("expire-reservations", expiry_poll_seconds, expire_reservations)

    async def complete_due_pickings() -> None:
        # Scheduled whatever pick_delay_seconds is: pickings begun with another setting
        # (before a restart) are still handed over.
        while (
            await use_cases.fulfilment.complete_due_pickings(service.messaging, carrier=carrier)
            == use_cases.fulfilment.PICKING_BATCH
        ):
            pass

    service.every("complete-due-pickings", pick_poll_seconds, complete_due_pickings)

    async def ship_due_replacements() -> None:
        # Scheduled whatever pick_delay_seconds is, as the pickings' hand-over is.
        while (
            await use_cases.replacements.ship_due_replacements(service.messaging, carrier=carrier)
            == use_cases.replacements.HAND_OVER_BATCH
        ):
            pass

    service.every("ship-due-replacements", pick_poll_seconds, ship_due_replacements)

    if isinstance(carrier, SimulatedCarrier):
        simulated = carrier

        clients: list[httpx.AsyncClient] = []

        async def send_tracking_updates() -> None:
            # The simulated carrier's side of the webhook, as a real carrier would run it.
            # One client for the process's life, made on first use (nothing connects
            # while the service is built).
            if not clients:
                clients.append(httpx.AsyncClient())
            while (
                await simulated.send_due_updates(clients[0], url=webhook_url, secret=webhook_secret)
                == webhook_sender.BATCH
            ):
                pass

        service.every("carrier-tracking-updates", tracking_poll_seconds, send_tracking_updates)
        service.sends_webhooks(simulated.sender)

    async def forget_webhook_deliveries() -> None:
        while await use_cases.tracking.forget_webhook_deliveries(
            service.messaging, older_than=webhook_deliveries_kept
        ):
            pass

    service.every(
        "forget-webhook-deliveries",
        service.settings.housekeeping_interval_seconds,
        forget_webhook_deliveries,
    )
