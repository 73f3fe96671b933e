"""Read models for the HTTP API (no locks, no aggregate)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.personal_data import Vault
from orderly_order.adapters.orm import order_lines, order_status_history, orders
from orderly_order.adapters.personal_data import KEY_COLUMNS, WITH_KEYS, open_contact
from orderly_order.domain.order import AWAITING, Status
from orderly_order.queries.claims import ClaimShown, claims_of
from orderly_order.queries.returns import ReturnShown, returns_of
from orderly_schemas.base import Money, OrderLine
from orderly_schemas.checkout import Address


class CustomerRead(BaseModel):
    customer_id: str
    #: None once the customer's personal data was erased.
    name: str | None
    email: str | None
    erased: bool = False


class StatusChangeRead(BaseModel):
    status: str
    at: datetime
    reason: str | None


class PaymentShown(BaseModel):
    """What support may see of how the order is paid: never the token."""

    method: str
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


class OrderRead(BaseModel):
    order_id: UUID
    order_number: str
    status: str
    customer: CustomerRead
    lines: list[OrderLine]
    total: Money
    shipping_address: Address | None
    payment_method: str
    payment: PaymentShown
    carrier: str | None
    tracking_numbers: list[str]
    placed_at: datetime
    delivered_at: datetime | None
    auto_complete_at: datetime | None
    awaiting: str | None
    deadline_at: datetime | None
    pending_compensations: list[str]
    cancel_reason: str | None
    updated_at: datetime
    status_history: list[StatusChangeRead]
    returns: list[ReturnShown] = Field(description="the order's returns; GET /returns/{id}")
    claims: list[ClaimShown] = Field(
        description="claims on its goods lost or damaged in transit; GET /claims/{id}"
    )


async def order_id_for(session: AsyncSession, ref: str) -> UUID | None:
    """Resolve an order number (ORD-0000001) or an order id to the order id."""
    try:
        return UUID(ref)
    except ValueError:
        pass
    found = await session.scalar(
        select(orders.c.order_id).where(orders.c.order_number == ref.strip().upper())
    )
    return found


async def owner_of(session: AsyncSession, ref: str) -> tuple[UUID, str] | None:
    """The order ``ref`` names (an order number or id) and its customer's id."""
    order_id = await order_id_for(session, ref)
    if order_id is None:
        return None
    customer = await session.scalar(
        select(orders.c.customer_id).where(orders.c.order_id == order_id)
    )
    return None if customer is None else (order_id, customer)


async def get_order(session: AsyncSession, order_id: UUID, *, vault: Vault) -> OrderRead | None:
    """The order as support and its customer see it, its personal data opened by ``vault``."""
    row = (
        (
            await session.execute(
                select(orders, *KEY_COLUMNS)
                .select_from(WITH_KEYS)
                .where(orders.c.order_id == order_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    contact = open_contact(vault, row)
    lines = (
        await session.execute(
            select(order_lines)
            .where(order_lines.c.order_id == order_id)
            .order_by(order_lines.c.line_no)
        )
    ).mappings()
    history = (
        await session.execute(
            select(order_status_history)
            .where(order_status_history.c.order_id == order_id)
            .order_by(order_status_history.c.id)
        )
    ).mappings()
    return OrderRead(
        order_id=row["order_id"],
        order_number=row["order_number"],
        status=row["status"],
        customer=CustomerRead(
            customer_id=row["customer_id"],
            name=contact.name,
            email=contact.email,
            erased=contact.erased,
        ),
        lines=[
            OrderLine(
                sku=line["sku"],
                quantity=line["quantity"],
                unit_price=Money(amount=line["unit_price_amount"], currency=line["currency"]),
            )
            for line in lines
        ],
        total=Money(amount=row["total_amount"], currency=row["currency"]),
        shipping_address=contact.address,
        payment_method=row["payment_method"],
        payment=PaymentShown(method=row["payment_method"], **(row["payment_display"] or {})),
        carrier=row["carrier"],
        tracking_numbers=list(row["tracking_numbers"] or []),
        placed_at=row["placed_at"],
        delivered_at=row["delivered_at"],
        auto_complete_at=row["auto_complete_at"],
        awaiting=AWAITING.get(Status(row["status"])),
        deadline_at=row["deadline_at"],
        pending_compensations=list(row["pending_compensations"]),
        cancel_reason=row["cancel_reason"],
        updated_at=row["updated_at"],
        status_history=[
            StatusChangeRead(status=h["status"], at=h["at"], reason=h["reason"]) for h in history
        ],
        returns=await returns_of(session, order_id),
        claims=await claims_of(session, order_id),
    )
