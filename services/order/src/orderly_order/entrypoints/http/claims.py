"""HTTP API of claims: support settles an order whose parcel was lost or damaged in transit.

Who may call: support opens a claim on an order that needs attention after its goods left
(a reshipment or a full refund; audited) and reads any claim; a customer reads the claims
of their own orders (another customer's claim is a 404, as if it did not exist); admin may
do everything. Who opened it is the token's subject, never a field of the body.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from orderly_kit.audit import Actor
from orderly_kit.auth import Caller, Permission, Role
from orderly_kit.http_errors import refusal
from orderly_kit.service import Service
from orderly_order import queries, use_cases
from orderly_order.domain.order import OrderStateError
from orderly_order.entrypoints.http.orders import NOT_FOUND, OrderRef, order_seen_by
from orderly_order.queries.claims import ClaimRead
from orderly_order.settings import OrderSettings
from orderly_schemas.order import ClaimKind, ClaimResolution

OPEN = Permission.of(
    "claims:open",
    Role.SUPPORT,
    description="settle a parcel lost or damaged in transit: reship the goods or refund",
)
READ = Permission.of("claims:read", Role.SUPPORT, own=[Role.CUSTOMER])

_CLAIM_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: refusal("no claim by this id that the caller may see")
}


class ClaimCreate(BaseModel):
    """What happened to the goods, and how support settles it."""

    model_config = ConfigDict(extra="forbid")

    kind: ClaimKind = Field(description="lost in transit, or delivered damaged by the carrier")
    resolution: ClaimResolution = Field(
        description="reshipment: the same goods sent again, no new payment (refunded instead"
        " if they cannot be reserved); refund: the payment refunded in full"
    )


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["claims"])
    database = service.database
    messaging = service.messaging
    assert isinstance(service.settings, OrderSettings)
    timeouts = service.settings.timeouts()

    async def shown(claim_id: UUID, caller: Caller) -> ClaimRead:
        """The claim if ``caller`` may see it; else 404, whether or not it exists."""
        async with database.sessions() as session:
            found = await queries.claims.get_claim(session, claim_id)
        caller.must_see(found.customer_id if found else None, f"claim {str(claim_id)!r}")
        assert found is not None
        return found

    @r.post(
        "/orders/{ref}/claims",
        status_code=status.HTTP_201_CREATED,
        response_model=ClaimRead,
        responses={
            404: NOT_FOUND,
            409: refusal("the order does not need attention after its goods left"),
        },
    )
    async def open_claim(
        ref: OrderRef, body: ClaimCreate, caller: Annotated[Caller, Depends(OPEN)]
    ) -> ClaimRead:
        """Settle an order whose shipment was lost, failed or never confirmed delivered (it
        needs attention): the goods are sent again, or the payment is refunded in full."""
        order_id = await order_seen_by(database, ref, caller)
        try:
            async with messaging.unit_of_work() as uow:
                claim = await use_cases.claims.open_claim(
                    uow,
                    order_id,
                    kind=body.kind,
                    resolution=body.resolution,
                    staff=Actor.of(caller),
                    timeouts=timeouts,
                )
        except OrderStateError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        if claim is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no order {ref!r}")
        return await shown(claim.claim_id, caller)

    @r.get("/claims/{claim_id}", response_model=ClaimRead, responses=_CLAIM_NOT_FOUND)
    async def get_claim(claim_id: UUID, caller: Annotated[Caller, Depends(READ)]) -> ClaimRead:
        """A claim: what happened, how it was settled, and where it stands."""
        return await shown(claim_id, caller)

    return r
