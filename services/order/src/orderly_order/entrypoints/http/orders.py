"""HTTP API of the order service: order lookup, the ingress for checkout, receipt confirmation.

Who may call: checkout places orders; a customer reads, cancels and confirms receipt of
their own orders (another customer's order is a 404, as if it did not exist); support
reads and cancels any order, giving a reason (audited); admin may do everything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from orderly_kit.audit import Actor
from orderly_kit.auth import Caller, Permission, Role
from orderly_kit.db import Database
from orderly_kit.http_errors import refusal
from orderly_kit.service import Service
from orderly_order import queries, use_cases
from orderly_order.adapters.neighbours import Neighbours, reads_of
from orderly_order.domain.order import OrderStateError
from orderly_order.settings import OrderSettings
from orderly_schemas.checkout import OrderPlaced, PlacedAt

PLACE = Permission.of("orders:place", Role.CHECKOUT, description="place an order at its prices")
READ = Permission.of("orders:read", Role.SUPPORT, own=[Role.CUSTOMER])
CANCEL = Permission.of("orders:cancel", Role.SUPPORT, own=[Role.CUSTOMER])
CONFIRM_RECEIPT = Permission.of("orders:confirm-receipt", own=[Role.CUSTOMER])
TIMELINE = Permission.of(
    "orders:timeline",
    Role.SUPPORT,
    description="an order's whole story across the services (read with the caller's token)",
)

#: The answer to an order the caller may not see, as to one that does not exist.
NOT_FOUND = refusal("no order by this number or id that the caller may see")

OrderRef = Annotated[
    str, Path(description="an order number (ORD-0000042) or an order id", max_length=64)
]


async def order_seen_by(database: Database, ref: str, caller: Caller) -> UUID:
    """The order ``ref`` names if ``caller`` may see it; else 404, whether or not it exists."""
    async with database.sessions() as session:
        found = await queries.orders.owner_of(session, ref)
    caller.must_see(found[1] if found else None, f"order {ref!r}")
    assert found is not None
    return found[0]


class OrderCreate(OrderPlaced):
    """An order from a client without Kafka; becomes an OrderPlaced event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: UUID = Field(
        default_factory=uuid4, description="set it to make retries of this request idempotent"
    )
    placed_at: PlacedAt = Field(default_factory=lambda: datetime.now(UTC))


#: An order as checkout sends it (its id and placement time are set when left out).
ORDER_EXAMPLES = {
    "two mugs": {
        "summary": "two mugs, paid by card",
        "value": {
            "customer": {
                "customer_id": "cus_8f2k3m",
                "email": "ada@example.com",
                "name": "Ada Lovelace",
            },
            "lines": [
                {"sku": "MUG-001", "quantity": 2, "unit_price": {"amount": 1299, "currency": "EUR"}}
            ],
            "total": {"amount": 2598, "currency": "EUR"},
            "shipping_address": {
                "name": "Ada Lovelace",
                "line1": "Hauptstraße 12",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
            },
            "payment": {"method": "credit_card", "token": "tok_visa"},
        },
    }
}


class OrderCancel(BaseModel):
    """Why the order is cancelled: optional for its customer, required of anyone else."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, min_length=1, max_length=500)


class OrderAccepted(BaseModel):
    order_id: UUID
    status_url: str


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["orders"])
    database = service.database
    messaging = service.messaging
    vault = messaging.vault
    assert vault is not None, "the order service is built with its customer_keys"
    assert isinstance(service.settings, OrderSettings)
    timeouts = service.settings.timeouts()
    neighbours = Neighbours(
        service.settings.neighbours(), timeout=service.settings.timeline_timeout_seconds
    )

    @r.get("/orders/{ref}", response_model=queries.orders.OrderRead, responses={404: NOT_FOUND})
    async def get_order(
        ref: OrderRef, caller: Annotated[Caller, Depends(READ)]
    ) -> queries.orders.OrderRead:
        """An order with its lines, totals, status history, carrier and tracking numbers."""
        order_id = await order_seen_by(database, ref, caller)
        async with database.sessions() as session:
            order = await queries.orders.get_order(session, order_id, vault=vault)
        if order is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no order {ref!r}")
        return order

    @r.get(
        "/orders/{ref}/timeline",
        response_model=queries.timeline.Timeline,
        responses={404: NOT_FOUND},
    )
    async def get_timeline(
        ref: OrderRef, request: Request, caller: Annotated[Caller, Depends(TIMELINE)]
    ) -> queries.timeline.Timeline:
        """Everything that happened to an order, oldest first: its status history, returns,
        exchanges and claims, its parcels' tracking, its payment's captures, charges and
        refunds, the messages sent, its cases and feedback. The other services are read
        with the caller's token; one that does not answer is named in ``unavailable``."""
        order_id = await order_seen_by(database, ref, caller)
        async with database.sessions() as session:
            order = await queries.orders.get_order(session, order_id, vault=vault)
            if order is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no order {ref!r}")
            returns = [
                found
                for shown in order.returns
                if (found := await queries.returns.get_return(session, shown.return_id))
            ]
        read = await neighbours.read(
            reads_of(order_id), authorization=request.headers["Authorization"]
        )
        return queries.timeline.assemble(order, returns, read)

    @r.post(
        "/orders",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=OrderAccepted,
        dependencies=[Depends(PLACE)],
        responses={409: refusal("the order id already names another order")},
    )
    async def create_order(
        order: Annotated[OrderCreate, Body(openapi_examples=ORDER_EXAMPLES)],
    ) -> OrderAccepted:
        """Validate an order and publish it as OrderPlaced; the saga takes it from there.

        The same order again (same order id and body) changes nothing and is accepted
        again; another order under an order id already taken is refused with 409.
        """
        placed = OrderPlaced.model_validate(order.model_dump())
        try:
            async with messaging.unit_of_work() as uow:
                await use_cases.orders.submit_order(uow, placed)
        except use_cases.orders.OrderConflictError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        return OrderAccepted(order_id=placed.order_id, status_url=f"/orders/{placed.order_id}")

    @r.post(
        "/orders/{ref}/confirm-receipt",
        response_model=queries.orders.OrderRead,
        responses={404: NOT_FOUND, 409: refusal("the order has not been delivered")},
    )
    async def confirm_receipt(
        ref: OrderRef, caller: Annotated[Caller, Depends(CONFIRM_RECEIPT)]
    ) -> queries.orders.OrderRead:
        """The customer confirms a delivered order arrived; the order completes."""
        order_id = await order_seen_by(database, ref, caller)
        try:
            async with messaging.unit_of_work() as uow:
                await use_cases.orders.confirm_receipt(uow, order_id)
        except OrderStateError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        async with database.sessions() as session:
            order = await queries.orders.get_order(session, order_id, vault=vault)
        assert order is not None
        return order

    @r.post(
        "/orders/{ref}/cancel",
        response_model=queries.orders.OrderRead,
        responses={
            404: NOT_FOUND,
            409: refusal("the order has shipped (request a return) or ended"),
        },
    )
    async def cancel_order(
        ref: OrderRef,
        caller: Annotated[Caller, Depends(CANCEL)],
        body: OrderCancel | None = None,
    ) -> queries.orders.OrderRead:
        """Cancel an order that has not shipped: stock is released and any payment refunded.

        Cancelling an order that is already being cancelled changes nothing.
        """
        reason = (body or OrderCancel()).reason
        staff = Actor.of(caller) if caller.only_customer is None else None
        if reason is None:
            if staff is not None:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    [
                        {
                            "type": "missing",
                            "loc": ["body", "reason"],
                            "msg": "a reason is required when support cancels an order",
                        }
                    ],
                )
            reason = "cancelled by the customer"
        order_id = await order_seen_by(database, ref, caller)
        try:
            async with messaging.unit_of_work() as uow:
                await use_cases.orders.cancel_order(
                    uow, order_id, reason=reason, timeouts=timeouts, staff=staff
                )
        except OrderStateError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        async with database.sessions() as session:
            order = await queries.orders.get_order(session, order_id, vault=vault)
        assert order is not None
        return order

    return r
