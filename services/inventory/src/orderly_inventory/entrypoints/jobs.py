"""Periodic jobs of the inventory service."""

from __future__ import annotations

from orderly_inventory import handlers
from orderly_kit.service import Service


def register(service: Service, *, poll_seconds: float, expiry_poll_seconds: float) -> None:
    """Schedule the delivery scan of the simulated carrier and the reservation expiry."""

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
