"""HTTP API of returns: a customer (or support for them) requests one, support decides.

Who may call: a customer requests returns of their own orders and reads their own returns
(another customer's order or return is a 404, as if it did not exist); support requests
one for any customer, reads any, and approves or rejects (audited); support or finance
resume a return that needs attention (audited); admin may do everything. Who asks and
who decides is the token's subject, never a field of the body.

The domain's refusals (``domain.returns``) are answered by ``refused``, registered on the
app by ``bootstrap``: a field that breaks a rule is the kit's 422 naming it, a return the
order's state, its window or the return's own state forbids a 409.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from orderly_kit.audit import Actor
from orderly_kit.auth import Caller, Permission, Role
from orderly_kit.http_errors import invalid, refusal, refuse_invalid
from orderly_kit.service import Service
from orderly_order import queries, use_cases
from orderly_order.domain.returns import InvalidReturnError, ReplacementAsked, ReturnError
from orderly_order.entrypoints.http.orders import NOT_FOUND, OrderRef, order_seen_by
from orderly_order.queries.returns import ReturnRead
from orderly_order.settings import OrderSettings
from orderly_schemas.base import Money, Sku, StockLine
from orderly_schemas.returns import MAX_REASON_TEXT, MAX_RETURN_LINES, Resolution, ReturnReason

REQUEST = Permission.of(
    "returns:request", Role.SUPPORT, own=[Role.CUSTOMER], description="request a return"
)
READ = Permission.of("returns:read", Role.SUPPORT, own=[Role.CUSTOMER])
DECIDE = Permission.of(
    "returns:decide", Role.SUPPORT, description="approve or reject a requested return"
)
RETRY = Permission.of(
    "returns:retry",
    Role.SUPPORT,
    Role.FINANCE,
    description="resume a return that needs attention (a parcel refused, a refund failed)",
)

_RETURN_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: refusal("no return by this id that the caller may see")
}


class ReplacementLine(BaseModel):
    """Goods an exchange sends instead: a SKU of the order is priced as the order paid for
    it; any other needs support's quote (``unit_price``, in the order's currency)."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: int = Field(gt=0, le=10_000)
    unit_price: Money | None = Field(
        default=None, description="support's quote; only support may give one"
    )


class ReturnCreate(BaseModel):
    """Delivered goods to send back, and why."""

    model_config = ConfigDict(extra="forbid")

    lines: list[StockLine] = Field(
        min_length=1,
        max_length=MAX_RETURN_LINES,
        description="one line per SKU: at most the units delivered and not in other returns",
    )
    reason: ReturnReason
    reason_text: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_REASON_TEXT,
        description="in the customer's words; required with reason 'other'",
    )
    resolution: Resolution = Field(
        default="refund",
        description="refund: the money back; exchange: the goods in ``replacement`` instead",
    )
    replacement: list[ReplacementLine] = Field(
        default_factory=list,
        max_length=MAX_RETURN_LINES,
        description="an exchange's new goods, one line per SKU",
    )


class ReturnReject(BaseModel):
    """Why support refuses the return (the customer is told)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON_TEXT)


async def refused(request: Request, exc: Exception) -> Response:
    """The domain's refusal of a return as an answer: 422 naming the body field, or 409."""
    if isinstance(exc, InvalidReturnError):
        return await refuse_invalid(request, invalid(("body", *exc.loc), exc.message, exc.value))
    if isinstance(exc, ReturnError):
        return JSONResponse({"detail": exc.message}, status_code=status.HTTP_409_CONFLICT)
    raise exc


def _no_return(return_id: UUID) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no return {str(return_id)!r}")


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["returns"])
    database = service.database
    messaging = service.messaging
    assert isinstance(service.settings, OrderSettings)
    policy = service.settings.return_policy()

    async def shown(return_id: UUID, caller: Caller) -> ReturnRead:
        """The return if ``caller`` may see it; else 404, whether or not it exists."""
        async with database.sessions() as session:
            found = await queries.returns.get_return(session, return_id)
        caller.must_see(found.customer_id if found else None, f"return {str(return_id)!r}")
        assert found is not None
        return found

    @r.post(
        "/orders/{ref}/returns",
        status_code=status.HTTP_201_CREATED,
        response_model=ReturnRead,
        responses={
            404: NOT_FOUND,
            409: refusal("the order was not delivered, or its return window has closed"),
        },
    )
    async def request_return(
        ref: OrderRef, body: ReturnCreate, caller: Annotated[Caller, Depends(REQUEST)]
    ) -> ReturnRead:
        """Request a return of delivered goods, for a refund or in exchange for other goods;
        damaged or wrong goods of little value are approved at once (an exchange if its
        replacement costs no more), any other return waits for support."""
        order_id = await order_seen_by(database, ref, caller)
        async with messaging.unit_of_work() as uow:
            returned = await use_cases.returns.request_return(
                uow,
                order_id,
                lines=body.lines,
                reason=body.reason,
                reason_text=body.reason_text,
                requested_by=caller.actor,
                policy=policy,
                resolution=body.resolution,
                replacement=[
                    ReplacementAsked(
                        sku=line.sku, quantity=line.quantity, unit_price=line.unit_price
                    )
                    for line in body.replacement
                ],
                may_price=caller.only_customer is None,
            )
        if returned is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no order {ref!r}")
        return await shown(returned.return_id, caller)

    @r.get("/returns/{return_id}", response_model=ReturnRead, responses=_RETURN_NOT_FOUND)
    async def get_return(return_id: UUID, caller: Annotated[Caller, Depends(READ)]) -> ReturnRead:
        """A return with its lines, reason, status and who decided it."""
        return await shown(return_id, caller)

    @r.post(
        "/returns/{return_id}/approve",
        response_model=ReturnRead,
        responses={**_RETURN_NOT_FOUND, 409: refusal("the return was rejected")},
    )
    async def approve_return(
        return_id: UUID, caller: Annotated[Caller, Depends(DECIDE)]
    ) -> ReturnRead:
        """Approve a requested return; approving it again changes nothing."""
        async with messaging.unit_of_work() as uow:
            returned = await use_cases.returns.approve_return(
                uow, return_id, staff=Actor.of(caller), policy=policy
            )
        if returned is None:
            raise _no_return(return_id)
        return await shown(return_id, caller)

    @r.post(
        "/returns/{return_id}/reject",
        response_model=ReturnRead,
        responses={**_RETURN_NOT_FOUND, 409: refusal("the return was approved")},
    )
    async def reject_return(
        return_id: UUID, body: ReturnReject, caller: Annotated[Caller, Depends(DECIDE)]
    ) -> ReturnRead:
        """Reject a requested return, saying why; rejecting it again changes nothing."""
        async with messaging.unit_of_work() as uow:
            returned = await use_cases.returns.reject_return(
                uow, return_id, reason=body.reason, staff=Actor.of(caller)
            )
        if returned is None:
            raise _no_return(return_id)
        return await shown(return_id, caller)

    @r.post(
        "/returns/{return_id}/retry",
        response_model=ReturnRead,
        responses={**_RETURN_NOT_FOUND, 409: refusal("the return does not need attention")},
    )
    async def retry_return(
        return_id: UUID, caller: Annotated[Caller, Depends(RETRY)]
    ) -> ReturnRead:
        """Resume a return that needs attention at the step it stopped (a refund is asked for
        again under a new refund id)."""
        async with messaging.unit_of_work() as uow:
            returned = await use_cases.returns.retry_return(
                uow, return_id, staff=Actor.of(caller), policy=policy
            )
        if returned is None:
            raise _no_return(return_id)
        return await shown(return_id, caller)

    return r
