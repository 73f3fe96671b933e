"""HTTP API for tracking parcels: an order's shipment, and the carriers' tracking webhooks.

Who may call: warehouse staff and support read an order's shipment (support answers
"where is my parcel?"); a carrier posts its tracking updates without a token, each signed
with its HMAC secret, which the handler checks before it reads the update.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request, status
from pydantic import BaseModel, ValidationError

from orderly_inventory import queries, use_cases
from orderly_inventory.adapters.carrier import Carrier
from orderly_inventory.entrypoints.http.errors import found_or_404
from orderly_kit import webhook_signature
from orderly_kit.auth import Permission, Public, Role
from orderly_kit.http_errors import invalid_body, refusal
from orderly_kit.service import Service

READ_SHIPMENTS = Permission.of(
    "shipments:read", Role.WAREHOUSE, Role.SUPPORT, description="an order's parcels and tracking"
)
SIGNED_BY_CARRIER = Public(
    "a carrier's webhook: signed with its HMAC secret (Orderly-Signature), checked in the handler"
)


class WebhookReceipt(BaseModel):
    """What became of a tracking update: applied, or a duplicate or stale one left alone."""

    outcome: use_cases.tracking.TrackingOutcome


def router(
    service: Service,
    *,
    carriers: dict[str, Carrier],
    webhook_secrets: Sequence[str],
    webhook_tolerance: timedelta,
) -> APIRouter:
    """The routes; ``carriers`` by the name their webhook path uses (lower case)."""
    r = APIRouter(tags=["stock"])
    database = service.database
    messaging = service.messaging

    @r.get(
        "/shipments/{order_id}",
        response_model=queries.tracking.ShipmentRead,
        responses={404: refusal("the order has no shipment")},
        dependencies=[Depends(READ_SHIPMENTS)],
    )
    async def get_shipment(order_id: UUID) -> queries.tracking.ShipmentRead:
        """The shipment of an order: its parcels, their tracking numbers and tracking history."""
        async with database.sessions() as session:
            found = await queries.tracking.shipment_of(session, order_id)
        return found_or_404(found, f"order {order_id} has no shipment")

    @r.post(
        "/carriers/{carrier}/webhooks",
        response_model=WebhookReceipt,
        tags=["carriers"],
        responses={
            400: refusal("the signature header is missing or malformed"),
            401: refusal("the signature does not match, or its timestamp is stale"),
            404: refusal(
                "unknown carrier (answered to a signed request only), or a tracking number it"
                " never shipped"
            ),
        },
        dependencies=[Depends(SIGNED_BY_CARRIER)],
    )
    async def receive_carrier_webhook(
        carrier: Annotated[str, Path(min_length=1, max_length=100)],
        request: Request,
        signature: Annotated[str | None, Header(alias=webhook_signature.HEADER)] = None,
    ) -> WebhookReceipt:
        """A carrier's signed tracking update of one parcel; applied once per delivery id."""
        body = await request.body()
        try:
            webhook_signature.verify(
                signature,
                body,
                secrets=webhook_secrets,
                now=datetime.now(UTC),
                tolerance=webhook_tolerance,
            )
        except webhook_signature.WebhookSignatureError as refused:
            code = status.HTTP_401_UNAUTHORIZED
            if refused.malformed:
                code = status.HTTP_400_BAD_REQUEST
            raise HTTPException(code, refused.reason) from None
        # Only a signed request learns whether a carrier ships for us, and never which do.
        found = carriers.get(carrier.lower())
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no carrier {carrier!r} ships for us")
        try:
            update = found.read_tracking(body)
        except ValidationError as unreadable:
            raise invalid_body(unreadable) from None
        try:
            async with messaging.unit_of_work() as uow:
                outcome = await use_cases.tracking.record_tracking_update(
                    uow, update, carrier=found.name
                )
        except use_cases.tracking.UnknownParcelError as unknown:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"{unknown}; if it was booked just now, send the update again shortly",
            ) from None
        return WebhookReceipt(outcome=outcome)

    return r
