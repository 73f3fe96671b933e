"""Stores claims (SQLAlchemy Core, within the unit of work's transaction).

A claim is opened with its order's row held FOR UPDATE (``OrderRepository.get``), so of
two claims opened at once on one order the second finds the order settled and is refused.
Afterwards the claim's status follows its order's (``OrderRepository.save``).
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.clock import Clock
from orderly_kit.personal_data import Vault
from orderly_order.adapters.orm import claim_number_seq, claims
from orderly_order.adapters.repository import OrderRepository
from orderly_order.domain.claims import FINAL, Claim, ClaimStatus
from orderly_order.domain.order import Order


class Claims(Protocol):
    """The claims, and the orders they settle, within one unit of work."""

    orders: OrderRepository

    async def order_held(self, order_id: UUID) -> Order | None: ...

    async def next_claim_number(self) -> str: ...

    async def add(self, claim: Claim, status: ClaimStatus) -> None:
        """Keep ``claim``; the order's other claims still open are superseded by it."""
        ...


class ClaimRepository:
    """``Claims`` in PostgreSQL; the order is loaded (and locked) by ``OrderRepository``."""

    def __init__(
        self, session: AsyncSession, *, vault: Vault, clock: Clock, caused_by: str | None = None
    ) -> None:
        self.session = session
        self.orders = OrderRepository(session, vault=vault, clock=clock, caused_by=caused_by)

    async def order_held(self, order_id: UUID) -> Order | None:
        return await self.orders.get(order_id)

    async def next_claim_number(self) -> str:
        value = await self.session.scalar(select(claim_number_seq.next_value()))
        return f"CLM-{int(value or 0):07d}"

    async def add(self, claim: Claim, status: ClaimStatus) -> None:
        await self.session.execute(
            update(claims)
            .where(
                claims.c.order_id == claim.order_id,
                claims.c.status.not_in([s.value for s in FINAL]),
            )
            .values(status=ClaimStatus.SUPERSEDED.value, updated_at=func.now())
        )
        await self.session.execute(
            insert(claims).values(
                claim_id=claim.claim_id,
                claim_number=claim.claim_number,
                order_id=claim.order_id,
                kind=claim.kind,
                resolution=claim.resolution,
                status=status.value,
                opened_by=claim.opened_by,
                opened_at=claim.opened_at,
                replacement_id=claim.replacement_id,
            )
        )
