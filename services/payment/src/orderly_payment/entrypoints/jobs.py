"""Periodic jobs of the payment service."""

from __future__ import annotations

from orderly_kit.service import Service
from orderly_payment import handlers
from orderly_payment.handlers import Gateway


def register(
    service: Service,
    *,
    gateway: Gateway,
    poll_seconds: float,
) -> None:
    """Schedule the retries of refunds the provider rejected."""

    async def retry_due_refunds() -> None:
        # Drain a backlog in batches instead of one batch per poll.
        while (
            await handlers.retry_due_refunds(service.messaging, gateway=gateway)
            == handlers.REFUND_RETRY_BATCH
        ):
            pass

    service.every("retry-due-refunds", poll_seconds, retry_due_refunds)
