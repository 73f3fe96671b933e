"""Returns as the HTTP API shows them (no locks, no aggregate)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_order.adapters.orm import return_status_history, returns
from orderly_order.adapters.returns import lines_of
from orderly_schemas.base import Money, OrderLine, StockLine
from orderly_schemas.inventory import ReturnLine
from orderly_schemas.returns import Resolution, ReturnReason


class ReturnStep(BaseModel):
    status: str
    at: datetime
    reason: str | None


class ReturnShown(BaseModel):
    """A return as its order shows it: which, where it stands, and since when."""

    return_id: UUID
    return_number: str
    status: str
    requested_at: datetime
    updated_at: datetime


class ReturnRead(BaseModel):
    return_id: UUID
    return_number: str
    order_id: UUID
    order_number: str
    customer_id: str
    status: str = Field(
        description="requested (waiting for support), approved (a return parcel asked for),"
        " label_issued, in_transit, arrived (waiting for inspection), replacing (an"
        " exchange's replacement being charged or shipped), refunding, completed;"
        " or rejected, expired (the label was never used), needs_attention"
    )
    lines: list[StockLine]
    reason: ReturnReason
    reason_text: str | None
    resolution: Resolution
    requested_by: str = Field(description="who asked: the customer's or the agent's subject")
    requested_at: datetime
    decided_by: str | None = Field(description="'rule' when the rules approved it, else support")
    decided_at: datetime | None
    rejection_reason: str | None
    warehouse: str | None = Field(description="where the goods go back to")
    carrier: str | None
    tracking_number: str | None = Field(description="the return parcel's, on its label")
    label_expires_at: datetime | None
    received: list[ReturnLine] = Field(description="what the warehouse found, per condition")
    received_at: datetime | None
    refunded: Money | None = Field(description="what the return refunds (or refunded)")
    restocking_fee: Money | None
    refund_id: str | None
    completed_at: datetime | None
    closing_reason: str | None = Field(description="why it expired, or needs attention")
    deadline_at: datetime | None = Field(description="when its current wait runs out")
    replacement: list[OrderLine] = Field(
        description="an exchange's new goods, each at its price (empty for a refund)"
    )
    replacement_state: str | None = Field(
        description="charging (the price difference), shipping, shipped, or unavailable (the"
        " exchange became a refund)"
    )
    replacement_carrier: str | None
    replacement_tracking: list[str]
    charged: Money | None = Field(description="the price difference charged for an exchange")
    history: list[ReturnStep] = Field(description="every status it moved to, oldest first")


async def get_return(session: AsyncSession, return_id: UUID) -> ReturnRead | None:
    """The return with its lines, or None."""
    row = (
        (await session.execute(select(returns).where(returns.c.return_id == return_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    currency = row["currency"]
    return ReturnRead(
        **{name: row[name] for name in ReturnRead.model_fields if name not in _BUILT},
        lines=await lines_of(session, return_id),
        received=row["received"] or [],
        refunded=_money(row["refund_amount"], currency),
        restocking_fee=_money(row["restocking_fee"], currency),
        replacement=row["replacement"] or [],
        replacement_tracking=row["replacement_tracking"] or [],
        charged=_money(row["charged"] or None, _exchange_currency(row["replacement"])),
        history=[
            ReturnStep(status=h.status, at=h.at, reason=h.reason)
            for h in await session.execute(
                select(return_status_history)
                .where(return_status_history.c.return_id == return_id)
                .order_by(return_status_history.c.id)
            )
        ],
    )


async def returns_of(session: AsyncSession, order_id: UUID) -> list[ReturnShown]:
    """The order's returns, oldest first."""
    found = await session.execute(
        select(*(returns.c[name] for name in ReturnShown.model_fields))
        .where(returns.c.order_id == order_id)
        .order_by(returns.c.requested_at, returns.c.return_number)
    )
    return [ReturnShown.model_validate(row) for row in found.mappings()]


#: The fields ``get_return`` builds rather than reads from a column of the same name.
_BUILT = frozenset(
    {
        "lines",
        "received",
        "refunded",
        "restocking_fee",
        "history",
        "replacement",
        "replacement_tracking",
        "charged",
    }
)


def _exchange_currency(replacement: list[dict[str, Any]] | None) -> str | None:
    """The currency an exchange is priced in: its replacement's (the order's)."""
    return str(replacement[0]["unit_price"]["currency"]) if replacement else None


def _money(amount: int | None, currency: str | None) -> Money | None:
    return None if amount is None or currency is None else Money(amount=amount, currency=currency)
