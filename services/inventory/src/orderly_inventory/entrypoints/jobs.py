"""Periodic jobs of the inventory service."""

from __future__ import annotations

from datetime import timedelta

from orderly_inventory import handlers
from orderly_inventory.adapters.carrier import Carrier
from orderly_kit.service import Service


def register(
    service: Service,
    *,
    poll_seconds: float,
    expiry_poll_seconds: float,
    carrier: Carrier,
    delivery_delay: timedelta,
    pick_poll_seconds: float,
) -> None:
    """Schedule the delivery scan, the reservation expiry and the hand-over of pickings."""

    async def deliver_due_shipments() -> None:
        # Drain a backlog in batches instead of one batch per poll.
        while await handlers.deliver_due_shipments(service.messaging) == handlers.DELIVERY_BATCH:
            pass

    service.every("deliver-due-shipments", poll_seconds, deliver_due_shipments)

    async def expire_reservations() -> None:
        # Until a scan finds nothing more to expire; busy orders wait for the next poll.
        while await handlers.expire_reservations(service.messaging):
            pass

    service.every("expire-reservations", expiry_poll_seconds, expire_reservations)

    async def complete_due_pickings() -> None:
        # Scheduled whatever pick_delay_seconds is: pickings begun with another setting
        # (before a restart) are still handed over.
        while (
            await handlers.complete_due_pickings(
                service.messaging, carrier=carrier, delivery_delay=delivery_delay
            )
            == handlers.PICKING_BATCH
        ):
            pass

    service.every("complete-due-pickings", pick_poll_seconds, complete_due_pickings)
