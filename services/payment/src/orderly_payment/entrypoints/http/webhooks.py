"""HTTP API of the payment service: providers' webhooks, their late answers to operations.

One endpoint per configured provider, ``POST /providers/{provider}/webhooks``. A
delivery is trusted only with an ``Orderly-Signature`` made with one of the
provider's secrets within the tolerance (see ``orderly_kit.webhook_signature``);
the provider's adapter reads the body, and the handler applies it once per
delivery id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request, status
from pydantic import BaseModel, ValidationError

from orderly_kit import webhook_signature
from orderly_kit.auth import Public
from orderly_kit.http_errors import invalid_body, refusal
from orderly_kit.service import Service
from orderly_payment import use_cases
from orderly_payment.adapters.providers import ProviderError
from orderly_payment.use_cases.payments import Gateway

#: Providers hold no token: a delivery is trusted by its signature, checked in the handler.
SIGNED_BY_PROVIDER = Public("signed by the provider's HMAC secret, checked in the handler")


class WebhookReceipt(BaseModel):
    """What became of a webhook delivery: it confirmed its operation, or it changed nothing."""

    outcome: use_cases.payments.WebhookOutcome


def router(
    service: Service,
    *,
    gateway: Gateway,
    secrets: Mapping[str, Sequence[str]],
    tolerance: timedelta,
) -> APIRouter:
    """The webhook routes; ``secrets`` of each provider by its name, the newest first."""
    r = APIRouter(tags=["providers"])
    messaging = service.messaging

    @r.post(
        "/providers/{provider}/webhooks",
        response_model=WebhookReceipt,
        responses={
            400: refusal("the signature header is missing or malformed"),
            401: refusal("the signature does not match, or its timestamp is stale"),
            404: refusal("unknown provider, or an operation the ledger does not hold"),
            422: {"description": "the body is not a webhook of this provider"},
            503: refusal("the provider did not answer the follow-up call: send again"),
        },
        dependencies=[Depends(SIGNED_BY_PROVIDER)],
    )
    async def receive_provider_webhook(
        provider: Annotated[str, Path(min_length=1, max_length=40)],
        request: Request,
        signature: Annotated[str | None, Header(alias=webhook_signature.HEADER)] = None,
    ) -> WebhookReceipt:
        """A provider's signed answer to one of its operations; applied once per delivery id."""
        found = gateway.providers.named(provider)
        if found is None:  # named plainly: which providers are configured is not told
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no payment provider {provider!r} is configured"
            )
        body = await request.body()
        try:
            webhook_signature.verify(
                signature,
                body,
                secrets=secrets.get(found.name, ()),
                now=datetime.now(UTC),
                tolerance=tolerance,
            )
        except webhook_signature.WebhookSignatureError as refused:
            code = (
                status.HTTP_400_BAD_REQUEST if refused.malformed else status.HTTP_401_UNAUTHORIZED
            )
            raise HTTPException(code, refused.reason) from None
        try:
            event = found.read_webhook(body)
        except ValidationError as unreadable:
            raise invalid_body(unreadable) from None
        try:
            async with messaging.unit_of_work() as uow:
                outcome = await use_cases.payments.receive_provider_webhook(
                    uow, event, provider=found.name, gateway=gateway
                )
        except use_cases.payments.UnknownOperationError as unknown:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"{unknown}; if it was requested just now, send the webhook again shortly",
            ) from None
        except ProviderError as silent:
            # Nothing was remembered: the provider's retry applies the answer.
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"the answer could not be acted on yet ({silent}); send the webhook again later",
            ) from None
        return WebhookReceipt(outcome=outcome)

    return r
