"""Periodic jobs of the payment service."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from orderly_kit import webhook_sender
from orderly_kit.service import Service
from orderly_payment import use_cases
from orderly_payment.adapters.providers import SimulatedProvider
from orderly_payment.use_cases.payments import Gateway


def register(
    service: Service,
    *,
    gateway: Gateway,
    poll_seconds: float,
    webhook_poll_seconds: float,
    webhook_url: Callable[[str], str],
    webhook_secret: Callable[[str], str],
) -> None:
    """Schedule the retries of refunds the provider rejected, and the simulated webhooks.

    ``webhook_url`` and ``webhook_secret`` give, for a provider's name, where its webhooks
    go and the secret it signs them with.
    """

    async def retry_due_refunds() -> None:
        # Drain a backlog in batches instead of one batch per poll.
        while (
            await use_cases.payments.retry_due_refunds(service.messaging, gateway=gateway)
            == use_cases.payments.REFUND_RETRY_BATCH
        ):
            pass

    service.every("retry-due-refunds", poll_seconds, retry_due_refunds)

    simulated = [p for p in gateway.providers.all() if isinstance(p, SimulatedProvider)]
    if not simulated:
        return
    clients: list[httpx.AsyncClient] = []

    async def send_provider_webhooks() -> None:
        # The simulated providers' side of the webhook, as a real provider would run it.
        # One client for the process's life, made on first use (nothing connects while
        # the service is built).
        if not clients:
            clients.append(httpx.AsyncClient())
        for provider in simulated:
            url, secret = webhook_url(provider.name), webhook_secret(provider.name)
            while (
                await provider.send_due_webhooks(clients[0], url=url, secret=secret)
                == webhook_sender.BATCH
            ):
                pass

    service.every("sim-provider-webhooks", webhook_poll_seconds, send_provider_webhooks)
    for provider in simulated:
        service.sends_webhooks(provider.sender)
