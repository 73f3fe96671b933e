"""The orders support knows (SQLAlchemy Core, within the unit of work's transaction).

Each record is an upsert, so a redelivered or reordered event changes nothing it should
not: OrderConfirmed names the order, its SKUs and their units, and when it was confirmed
(the after-sales report's units sold); OrderDelivered, or OrderCompleted read first, stamps
the delivery once and never moves it. ``held`` locks the order's row, so that
decisions about one order (its feedback) are taken one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import RowMapping, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.db import CompiledText, compiled_once
from orderly_support.adapters.orm import orders
from orderly_support.domain.orders import KnownOrder


class KnownOrders(Protocol):
    """The orders support knows, within one unit of work."""

    async def record_confirmed(
        self,
        *,
        order_id: UUID,
        order_number: str,
        customer_id: str,
        skus: Sequence[str],
        units: Sequence[int],
        confirmed_at: datetime,
    ) -> None:
        """Know the order, its customer, its SKUs and the units of each (``units[i]`` of
        ``skus[i]``), and when it was confirmed (a repeat changes nothing)."""
        ...

    async def record_delivered(
        self, *, order_id: UUID, order_number: str, customer_id: str, delivered_at: datetime
    ) -> None:
        """The order was delivered at ``delivered_at``, unless a delivery is known already."""
        ...


class KnownOrderRepository:
    """``KnownOrders`` in PostgreSQL, in the caller's transaction."""

    __slots__ = ("session",)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_confirmed(
        self,
        *,
        order_id: UUID,
        order_number: str,
        customer_id: str,
        skus: Sequence[str],
        units: Sequence[int],
        confirmed_at: datetime,
    ) -> None:
        await self.session.execute(
            _CONFIRMED,
            {
                "order_id": order_id,
                "order_number": order_number,
                "customer_id": customer_id,
                "skus": list(skus),
                "units": list(units),
                "confirmed_at": confirmed_at,
            },
        )

    async def record_delivered(
        self, *, order_id: UUID, order_number: str, customer_id: str, delivered_at: datetime
    ) -> None:
        await self.session.execute(
            _DELIVERED,
            {
                "order_id": order_id,
                "order_number": order_number,
                "customer_id": customer_id,
                "delivered_at": delivered_at,
            },
        )

    async def held(self, order_id: UUID) -> KnownOrder | None:
        """The order, its row locked for this unit of work."""
        row = (await self.session.execute(_HELD, {"order_id": order_id})).mappings().first()
        return None if row is None else _known(row)

    async def get(self, order_id: UUID) -> KnownOrder | None:
        row = (await self.session.execute(_GET, {"order_id": order_id})).mappings().first()
        return None if row is None else _known(row)


def _known(row: RowMapping) -> KnownOrder:
    return KnownOrder(
        order_id=row["order_id"],
        order_number=row["order_number"],
        customer_id=row["customer_id"],
        skus=frozenset(row["skus"]),
        delivered_at=row["delivered_at"],
    )


def _upsert(*, on_conflict: dict[str, Any], **values: Any) -> CompiledText:
    stmt = pg_insert(orders).values(
        {
            **{c: bindparam(c) for c in ("order_id", "order_number", "customer_id")},
            "updated_at": func.now(),
            **values,
        }
    )
    return compiled_once(
        stmt.on_conflict_do_update(
            index_elements=[orders.c.order_id],
            set_={**on_conflict, "updated_at": func.now()},
        )
    )


# Built once: SQLAlchemy would compile an ON CONFLICT statement on every execution.
#: OrderConfirmed names the SKUs and their units; a delivery read before it leaves them
#: empty till then.
_CONFIRMED = _upsert(
    skus=bindparam("skus", type_=orders.c.skus.type),
    units=bindparam("units", type_=orders.c.units.type),
    confirmed_at=bindparam("confirmed_at", type_=orders.c.confirmed_at.type),
    on_conflict={
        name: getattr(pg_insert(orders).excluded, name)
        for name in ("skus", "units", "confirmed_at")
    },
)
#: The first delivery known stands.
_DELIVERED = _upsert(
    skus=text("'{}'"),
    delivered_at=bindparam("delivered_at", type_=orders.c.delivered_at.type),
    on_conflict={
        "delivered_at": func.coalesce(
            orders.c.delivered_at, pg_insert(orders).excluded.delivered_at
        )
    },
)
_GET = select(orders).where(orders.c.order_id == bindparam("order_id"))
_HELD = _GET.with_for_update()
