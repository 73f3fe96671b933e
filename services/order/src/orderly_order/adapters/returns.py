"""Loads and stores returns (SQLAlchemy Core, within the unit of work's transaction).

``Returns`` is what the return use cases need of a repository; ``ReturnRepository`` keeps
the returns in PostgreSQL. A request holds its order's row FOR UPDATE (as every saga step
does) before it counts the units already in returns, so of two requests for the same
units the second counts the first's and is refused; a decision holds the return's row.
"""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.clock import Clock
from orderly_kit.personal_data import Vault
from orderly_order.adapters.orm import return_lines, return_number_seq, returns
from orderly_order.adapters.repository import OrderRepository
from orderly_order.domain.order import Order
from orderly_order.domain.returns import Return, ReturnStatus
from orderly_schemas.base import StockLine


class Returns(Protocol):
    """The returns, and the orders they return goods of, within one unit of work."""

    async def order_held(self, order_id: UUID) -> Order | None:
        """The order, held for this unit of work: no other one changes it or requests a
        return of it meanwhile."""
        ...

    async def units_in_returns(self, order_id: UUID) -> dict[str, int]:
        """Units per SKU in the order's returns that were not rejected."""
        ...

    async def next_return_number(self) -> str: ...

    async def add(self, returned: Return) -> None: ...

    async def get(self, return_id: UUID) -> Return | None:
        """The return, held for this unit of work: no other decision on it meanwhile."""
        ...

    async def save(self, returned: Return) -> None:
        """Store the return's status and decision."""
        ...


class ReturnRepository:
    """``Returns`` in PostgreSQL; the order is loaded (and locked) by ``OrderRepository``."""

    def __init__(self, session: AsyncSession, *, vault: Vault, clock: Clock) -> None:
        self.session = session
        self.orders = OrderRepository(session, vault=vault, clock=clock)

    async def order_held(self, order_id: UUID) -> Order | None:
        return await self.orders.get(order_id)

    async def units_in_returns(self, order_id: UUID) -> dict[str, int]:
        rows = await self.session.execute(_UNITS_IN_RETURNS, {"order_id": order_id})
        return {sku: int(units) for sku, units in rows.tuples()}

    async def next_return_number(self) -> str:
        value = await self.session.scalar(_NEXT_NUMBER)
        return f"RMA-{int(value or 0):07d}"

    async def add(self, returned: Return) -> None:
        await self.session.execute(
            insert(returns).values(
                return_id=returned.return_id,
                return_number=returned.return_number,
                order_id=returned.order_id,
                order_number=returned.order_number,
                customer_id=returned.customer_id,
                reason=returned.reason,
                reason_text=returned.reason_text,
                resolution=returned.resolution,
                requested_by=returned.requested_by,
                requested_at=returned.requested_at,
                **_decision(returned),
            )
        )
        await self.session.execute(
            insert(return_lines),
            [
                {
                    "return_id": returned.return_id,
                    "line_no": n,
                    "sku": line.sku,
                    "quantity": line.quantity,
                }
                for n, line in enumerate(returned.lines, start=1)
            ],
        )

    async def get(self, return_id: UUID) -> Return | None:
        row = (await self.session.execute(_GET_LOCKED, {"return_id": return_id})).mappings().first()
        if row is None:
            return None
        return Return(
            return_id=row["return_id"],
            return_number=row["return_number"],
            order_id=row["order_id"],
            order_number=row["order_number"],
            customer_id=row["customer_id"],
            lines=await lines_of(self.session, return_id),
            reason=row["reason"],
            reason_text=row["reason_text"],
            resolution=row["resolution"],
            status=ReturnStatus(row["status"]),
            requested_by=row["requested_by"],
            requested_at=row["requested_at"],
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            rejection_reason=row["rejection_reason"],
        )

    async def save(self, returned: Return) -> None:
        await self.session.execute(
            update(returns)
            .where(returns.c.return_id == returned.return_id)
            .values(**_decision(returned), updated_at=func.now())
        )


async def lines_of(session: AsyncSession, return_id: UUID) -> list[StockLine]:
    """The return's lines, in the order they were requested."""
    found = await session.execute(_LINES, {"return_id": return_id})
    return [StockLine(sku=sku, quantity=quantity) for sku, quantity in found.tuples()]


def _decision(returned: Return) -> dict[str, Any]:
    return {
        "status": returned.status.value,
        "decided_by": returned.decided_by,
        "decided_at": returned.decided_at,
        "rejection_reason": returned.rejection_reason,
    }


_NEXT_NUMBER = select(return_number_seq.next_value())
_UNITS_IN_RETURNS = (
    select(return_lines.c.sku, func.sum(return_lines.c.quantity))
    .join(returns, returns.c.return_id == return_lines.c.return_id)
    .where(
        returns.c.order_id == bindparam("order_id"),
        returns.c.status != ReturnStatus.REJECTED.value,
    )
    .group_by(return_lines.c.sku)
)
_GET_LOCKED = select(returns).where(returns.c.return_id == bindparam("return_id")).with_for_update()
_LINES = (
    select(return_lines.c.sku, return_lines.c.quantity)
    .where(return_lines.c.return_id == bindparam("return_id"))
    .order_by(return_lines.c.line_no)
)
