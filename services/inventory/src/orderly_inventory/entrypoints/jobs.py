"""Periodic jobs of the inventory service."""

from __future__ import annotations

from orderly_inventory import handlers
from orderly_kit.service import Service


def register(service: Service, *, poll_seconds: float) -> None:
    """Schedule the delivery scan of the simulated carrier."""

    async def deliver_due_shipments() -> None:
        # Drain a backlog in batches instead of one batch per poll.
        while await handlers.deliver_due_shipments(service.messaging) == handlers.DELIVERY_BATCH:
            pass

    service.every("deliver-due-shipments", poll_seconds, deliver_due_shipments)
