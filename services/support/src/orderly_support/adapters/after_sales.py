"""Keeps what the after-sales report counts of returns and claims (SQLAlchemy Core, within
the consuming unit of work's transaction): one statement per event.

Every return event carries the return's order, reason, resolution and lines, so each record
is an upsert that makes the return's row from whichever of its events comes first and sets
only its own columns on a row already there: a return whose request was read before this
service read the topic (or not at all) is still counted from its later steps. The request
alone says for good whether an exchange was asked for; a replacement shipped or unavailable
says so too. The statements are compiled once (SQLAlchemy compiles an ON CONFLICT
statement on every execution).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import bindparam, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.db import CompiledText, compiled_once, insert_unless_exists
from orderly_schemas.base import Money
from orderly_support.adapters.orm import claims, returns
from orderly_support.domain.after_sales import ReturnSeen


class AfterSales(Protocol):
    """The returns and claims the report counts, within one unit of work; each record makes
    the return known if it was not."""

    async def record_requested(self, seen: ReturnSeen, *, at: datetime) -> None: ...

    async def record_received(
        self,
        seen: ReturnSeen,
        *,
        at: datetime,
        warehouse: str,
        skus: Sequence[str],
        units: Sequence[int],
    ) -> None:
        """The goods came back to ``warehouse``: ``units[i]`` of ``skus[i]``."""
        ...

    async def record_replacement_shipped(self, seen: ReturnSeen, *, at: datetime) -> None: ...

    async def record_replacement_unavailable(self, seen: ReturnSeen, *, at: datetime) -> None:
        """The exchange fell back to a refund."""
        ...

    async def record_completed(
        self,
        seen: ReturnSeen,
        *,
        at: datetime,
        refunded: Money,
        restocking_fee: Money,
        charged: Money | None,
    ) -> None: ...

    async def record_claim(
        self,
        *,
        claim_id: UUID,
        order_id: UUID,
        kind: str,
        resolution: str,
        carrier: str | None,
        at: datetime,
    ) -> None:
        """A claim settled (a repeat changes nothing)."""
        ...


def _return_step(*columns: str, exchange: bool = False) -> CompiledText:
    """The upsert of a return's step, setting ``columns``; ``exchange``: the step is an
    exchange's own, so the return was one whatever its event says."""
    statement = pg_insert(returns).values(
        {
            name: bindparam(name, type_=returns.c[name].type)
            for name in ("return_id", "order_id", "reason", "exchange", *columns)
        }
    )
    changed: dict[str, Any] = {name: statement.excluded[name] for name in columns}
    if exchange:
        changed["exchange"] = true()
    return compiled_once(
        statement.on_conflict_do_update(index_elements=[returns.c.return_id], set_=changed)
    )


_REQUESTED = _return_step("requested_at", "exchange")
_RECEIVED = _return_step("received_at", "warehouse", "skus", "units")
_SHIPPED = _return_step("replacement_shipped_at", exchange=True)
_UNAVAILABLE = _return_step("replacement_unavailable_at", exchange=True)
_COMPLETED = _return_step(
    "completed_at",
    "refunded",
    "refunded_currency",
    "restocking_fee",
    "restocking_fee_currency",
    "charged",
    "charged_currency",
)
_CLAIM = insert_unless_exists(
    claims,
    ("claim_id", "order_id", "kind", "resolution", "carrier", "claimed_at"),
    conflict=("claim_id",),
)


def _money(column: str, amount: Money | None) -> dict[str, Any]:
    """``amount`` as ``column`` and ``<column>_currency`` keep it."""
    return {
        column: None if amount is None else amount.amount,
        f"{column}_currency": None if amount is None else amount.currency,
    }


class AfterSalesRepository:
    """``AfterSales`` in PostgreSQL, in the caller's transaction."""

    __slots__ = ("session",)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_requested(self, seen: ReturnSeen, *, at: datetime) -> None:
        await self._step(_REQUESTED, seen, requested_at=at)

    async def record_received(
        self,
        seen: ReturnSeen,
        *,
        at: datetime,
        warehouse: str,
        skus: Sequence[str],
        units: Sequence[int],
    ) -> None:
        await self._step(
            _RECEIVED, seen, received_at=at, warehouse=warehouse, skus=list(skus), units=list(units)
        )

    async def record_replacement_shipped(self, seen: ReturnSeen, *, at: datetime) -> None:
        await self._step(_SHIPPED, seen, replacement_shipped_at=at)

    async def record_replacement_unavailable(self, seen: ReturnSeen, *, at: datetime) -> None:
        await self._step(_UNAVAILABLE, seen, replacement_unavailable_at=at)

    async def record_completed(
        self,
        seen: ReturnSeen,
        *,
        at: datetime,
        refunded: Money,
        restocking_fee: Money,
        charged: Money | None,
    ) -> None:
        await self._step(
            _COMPLETED,
            seen,
            completed_at=at,
            **_money("refunded", refunded),
            **_money("restocking_fee", restocking_fee),
            **_money("charged", charged),
        )

    async def record_claim(
        self,
        *,
        claim_id: UUID,
        order_id: UUID,
        kind: str,
        resolution: str,
        carrier: str | None,
        at: datetime,
    ) -> None:
        await self.session.execute(
            _CLAIM,
            {
                "claim_id": claim_id,
                "order_id": order_id,
                "kind": kind,
                "resolution": resolution,
                "carrier": carrier,
                "claimed_at": at,
            },
        )

    async def _step(self, statement: CompiledText, seen: ReturnSeen, **columns: Any) -> None:
        await self.session.execute(
            statement,
            {
                "return_id": seen.return_id,
                "order_id": seen.order_id,
                "reason": seen.reason,
                "exchange": seen.exchange,
                **columns,
            },
        )
