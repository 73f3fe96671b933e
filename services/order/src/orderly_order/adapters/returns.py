"""Loads and stores returns (SQLAlchemy Core, within the unit of work's transaction).

``Returns`` is what the return use cases need of a repository; ``ReturnRepository`` keeps
the returns in PostgreSQL. A request holds its order's row FOR UPDATE (as every saga step
does) before it counts the units already in returns, so of two requests for the same
units the second counts the first's and is refused; a decision holds the return's row.
A received return holds its order's row too before it adds up what the order's other
returns refund, so two returns received at once never refund more than was captured.
Due returns are claimed with SKIP LOCKED, so replicas share them and never wait on a
return a saga step holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import RowMapping, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.clock import Clock
from orderly_kit.personal_data import Vault
from orderly_order.adapters.orm import (
    return_lines,
    return_number_seq,
    return_status_history,
    returns,
)
from orderly_order.adapters.repository import OrderRepository
from orderly_order.domain.order import Order
from orderly_order.domain.returns import Refund, ReplacementState, Return, ReturnStatus
from orderly_schemas.base import Message, Money, OrderLine, StockLine
from orderly_schemas.inventory import ReturnLine


class Returns(Protocol):
    """The returns, and the orders they return goods of, within one unit of work."""

    async def order_held(self, order_id: UUID) -> Order | None:
        """The order, held for this unit of work: no other one changes it or requests a
        return of it meanwhile."""
        ...

    async def order_as_placed(self, order_id: UUID) -> Order | None:
        """The order, not held: its lines, payment method and address (which never change)."""
        ...

    async def outgoing(self, order: Order, message: Message) -> Message:
        """``message`` as it may leave the service: an address in it sealed."""
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
        """Store where the return stands."""
        ...

    async def refunded_by_other_returns(self, returned: Return) -> int:
        """Minor units the order's other returns refunded or are refunding."""
        ...

    async def claim_due(self, now: datetime, *, limit: int) -> list[Return]:
        """Returns whose wait ran out by ``now``, held; none another transaction holds."""
        ...

    async def with_replacement(self, replacement_id: UUID) -> UUID | None:
        """The return whose exchange's replacement shipment is ``replacement_id``."""
        ...


class ReturnRepository:
    """``Returns`` in PostgreSQL; the order is loaded (and locked) by ``OrderRepository``."""

    def __init__(self, session: AsyncSession, *, vault: Vault, clock: Clock) -> None:
        self.session = session
        self.orders = OrderRepository(session, vault=vault, clock=clock)

    async def order_held(self, order_id: UUID) -> Order | None:
        return await self.orders.get(order_id)

    async def order_as_placed(self, order_id: UUID) -> Order | None:
        return await self.orders.get(order_id, lock=False)

    async def outgoing(self, order: Order, message: Message) -> Message:
        return await self.orders.outgoing(order, message)

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
                requested_by=returned.requested_by,
                requested_at=returned.requested_at,
                **_state(returned),
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
        await self._record_history(returned)

    async def get(self, return_id: UUID) -> Return | None:
        row = (await self.session.execute(_GET_LOCKED, {"return_id": return_id})).mappings().first()
        return None if row is None else await self._loaded(row)

    async def save(self, returned: Return) -> None:
        await self.session.execute(
            update(returns)
            .where(returns.c.return_id == returned.return_id)
            .values(**_state(returned), updated_at=func.now())
        )
        await self._record_history(returned)

    async def _record_history(self, returned: Return) -> None:
        if returned.changes:
            await self.session.execute(
                insert(return_status_history),
                [
                    {
                        "return_id": returned.return_id,
                        "status": change.status.value,
                        "reason": change.reason,
                        "at": change.at,
                    }
                    for change in returned.changes
                ],
            )
            returned.changes.clear()

    async def refunded_by_other_returns(self, returned: Return) -> int:
        value = await self.session.scalar(
            _REFUNDED_BY_OTHERS, {"order_id": returned.order_id, "return_id": returned.return_id}
        )
        return int(value or 0)

    async def claim_due(self, now: datetime, *, limit: int) -> list[Return]:
        rows = (await self.session.execute(_DUE, {"now": now, "limit": limit})).mappings().all()
        return [await self._loaded(row) for row in rows]

    async def with_replacement(self, replacement_id: UUID) -> UUID | None:
        found = await self.session.scalar(_WITH_REPLACEMENT, {"replacement_id": replacement_id})
        return found

    async def _loaded(self, row: RowMapping) -> Return:
        refund = None
        if row["refund_amount"] is not None:
            currency = row["currency"]
            refund = Refund(
                amount=Money(amount=row["refund_amount"], currency=currency),
                fee=Money(amount=row["restocking_fee"], currency=currency),
            )
        step, state = row["attention_step"], row["replacement_state"]
        return Return(
            return_id=row["return_id"],
            return_number=row["return_number"],
            order_id=row["order_id"],
            order_number=row["order_number"],
            customer_id=row["customer_id"],
            lines=await lines_of(self.session, row["return_id"]),
            reason=row["reason"],
            reason_text=row["reason_text"],
            resolution=row["resolution"],
            status=ReturnStatus(row["status"]),
            requested_by=row["requested_by"],
            requested_at=row["requested_at"],
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            rejection_reason=row["rejection_reason"],
            warehouse=row["warehouse"],
            carrier=row["carrier"],
            tracking_number=row["tracking_number"],
            label_expires_at=row["label_expires_at"],
            received=[ReturnLine.model_validate(line) for line in row["received"] or ()],
            received_at=row["received_at"],
            refund_id=row["refund_id"],
            refund=refund,
            completed_at=row["completed_at"],
            closing_reason=row["closing_reason"],
            attention_step=None if step is None else ReturnStatus(step),
            deadline_at=row["deadline_at"],
            resends=row["resends"],
            replacement=[OrderLine.model_validate(line) for line in row["replacement"] or ()],
            replacement_state=None if state is None else ReplacementState(state),
            replacement_carrier=row["replacement_carrier"],
            replacement_tracking=list(row["replacement_tracking"] or ()),
            charge_id=row["charge_id"],
            charged=row["charged"],
        )


async def lines_of(session: AsyncSession, return_id: UUID) -> list[StockLine]:
    """The return's lines, in the order they were requested."""
    found = await session.execute(_LINES, {"return_id": return_id})
    return [StockLine(sku=sku, quantity=quantity) for sku, quantity in found.tuples()]


def _state(returned: Return) -> dict[str, Any]:
    refund, step, state = returned.refund, returned.attention_step, returned.replacement_state
    return {
        "status": returned.status.value,
        # An exchange whose replacement cannot be sent goes on as a refund.
        "resolution": returned.resolution,
        "decided_by": returned.decided_by,
        "decided_at": returned.decided_at,
        "rejection_reason": returned.rejection_reason,
        "warehouse": returned.warehouse,
        "carrier": returned.carrier,
        "tracking_number": returned.tracking_number,
        "label_expires_at": returned.label_expires_at,
        "received": [line.model_dump(mode="json") for line in returned.received] or None,
        "received_at": returned.received_at,
        "refund_id": returned.refund_id,
        "refund_amount": None if refund is None else refund.amount.amount,
        "restocking_fee": None if refund is None else refund.fee.amount,
        "currency": None if refund is None else refund.amount.currency,
        "completed_at": returned.completed_at,
        "closing_reason": returned.closing_reason,
        "attention_step": None if step is None else step.value,
        "deadline_at": returned.deadline_at,
        "resends": returned.resends,
        "replacement": [line.model_dump(mode="json") for line in returned.replacement] or None,
        "replacement_state": None if state is None else state.value,
        "replacement_carrier": returned.replacement_carrier,
        "replacement_tracking": returned.replacement_tracking or None,
        "charge_id": returned.charge_id,
        "charged": returned.charged,
        "replacement_id": returned.replacement_id,
    }


_NEXT_NUMBER = select(return_number_seq.next_value())
_WITH_REPLACEMENT = select(returns.c.return_id).where(
    returns.c.replacement_id == bindparam("replacement_id")
)
_UNITS_IN_RETURNS = (
    select(return_lines.c.sku, func.sum(return_lines.c.quantity))
    .join(returns, returns.c.return_id == return_lines.c.return_id)
    .where(
        returns.c.order_id == bindparam("order_id"),
        returns.c.status != ReturnStatus.REJECTED.value,
    )
    .group_by(return_lines.c.sku)
)
_REFUNDED_BY_OTHERS = select(func.sum(returns.c.refund_amount)).where(
    returns.c.order_id == bindparam("order_id"),
    returns.c.return_id != bindparam("return_id"),
)
_DUE = (
    select(returns)
    .where(returns.c.deadline_at <= bindparam("now"))
    .order_by(returns.c.deadline_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_GET_LOCKED = select(returns).where(returns.c.return_id == bindparam("return_id")).with_for_update()
_LINES = (
    select(return_lines.c.sku, return_lines.c.quantity)
    .where(return_lines.c.return_id == bindparam("return_id"))
    .order_by(return_lines.c.line_no)
)
