"""Loads and stores feedback (SQLAlchemy Core, within the unit of work's transaction).

A submission holds its order's row (FOR UPDATE) before it reads the order's feedback, so
of two submissions for one order the second finds the first's and edits it. The comment is
kept sealed under the customer's data key (``adapters/personal_data.py``): it is opened
when feedback is loaded (an edit compares it), None once the customer was erased.
"""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import RowMapping, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.personal_data import Vault
from orderly_schemas.support import LineRating
from orderly_support.adapters.orders import KnownOrderRepository
from orderly_support.adapters.orm import feedback
from orderly_support.adapters.personal_data import (
    FEEDBACK_COMMENT,
    KEY_COLUMNS,
    Opener,
    Sealer,
    with_keys,
)
from orderly_support.domain.feedback import Feedback
from orderly_support.domain.orders import KnownOrder


class Feedbacks(Protocol):
    """Feedback, and the orders it is given on, within one unit of work."""

    async def order_held(self, order_id: UUID) -> KnownOrder | None:
        """The order, held for this unit of work: no other feedback on it meanwhile."""
        ...

    async def get(self, order_id: UUID) -> Feedback | None: ...

    async def add(self, given: Feedback) -> None: ...

    async def save(self, given: Feedback) -> None: ...


class FeedbackRepository:
    """``Feedbacks`` in PostgreSQL; the order is held by ``KnownOrderRepository``, the
    comment sealed by ``sealer``."""

    __slots__ = ("orders", "sealer", "session")

    def __init__(self, session: AsyncSession, *, sealer: Sealer) -> None:
        self.session = session
        self.sealer = sealer
        self.orders = KnownOrderRepository(session)

    async def order_held(self, order_id: UUID) -> KnownOrder | None:
        return await self.orders.held(order_id)

    async def get(self, order_id: UUID) -> Feedback | None:
        row = (await self.session.execute(_GET, {"order_id": order_id})).mappings().first()
        return None if row is None else _loaded(row, self.sealer.vault)

    async def add(self, given: Feedback) -> None:
        await self.session.execute(
            insert(feedback).values(
                order_id=given.order_id,
                order_number=given.order_number,
                customer_id=given.customer_id,
                given_by=given.given_by,
                given_at=given.given_at,
                **await self._state(given),
            )
        )

    async def save(self, given: Feedback) -> None:
        await self.session.execute(
            update(feedback)
            .where(feedback.c.order_id == given.order_id)
            .values(**await self._state(given))
        )

    async def _state(self, given: Feedback) -> dict[str, Any]:
        return {
            "rating": given.rating,
            "comment": None,
            "comment_sealed": await self.sealer.seal_optional(
                given.customer_id, FEEDBACK_COMMENT, given.comment
            ),
            "line_ratings": [line.model_dump(mode="json") for line in given.line_ratings],
            "updated_at": given.updated_at,
            "edits": given.edits,
        }


def _loaded(row: RowMapping, vault: Vault) -> Feedback:
    opener = Opener.of_row(vault, row)
    return Feedback(
        order_id=row["order_id"],
        order_number=row["order_number"],
        customer_id=row["customer_id"],
        rating=row["rating"],
        comment=opener.open(FEEDBACK_COMMENT, row["comment_sealed"], row["comment"]),
        line_ratings=[LineRating.model_validate(line) for line in row["line_ratings"]],
        given_by=row["given_by"],
        given_at=row["given_at"],
        updated_at=row["updated_at"],
        edits=row["edits"],
    )


_GET = (
    select(feedback, *KEY_COLUMNS)
    .select_from(with_keys(feedback))
    .where(feedback.c.order_id == bindparam("order_id"))
)
