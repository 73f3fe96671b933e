"""Feedback as the HTTP API shows it: one order's, and the list support reads.

The comment is opened with the customer's data key, read beside the feedback; once the
customer's personal data was erased it reads null and the feedback says ``erased``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.pages import older_than
from orderly_kit.personal_data import Vault
from orderly_schemas.support import LineRating
from orderly_support.adapters.orm import feedback
from orderly_support.adapters.personal_data import (
    FEEDBACK_COMMENT,
    KEY_COLUMNS,
    Opener,
    with_keys,
)


class FeedbackRead(BaseModel):
    order_id: UUID
    order_number: str
    customer_id: str
    rating: int = Field(description="1 (very poor) to 5 (very good)")
    comment: str | None = Field(
        description="in the customer's words; null if none was given, or once the customer's"
        " personal data was erased"
    )
    erased: bool = Field(default=False, description="the customer's personal data was erased")
    line_ratings: list[LineRating]
    given_by: str = Field(description="who gave it: the customer's subject")
    given_at: datetime = Field(description="when it was first given")
    updated_at: datetime = Field(description="when it was last changed")
    edits: int = Field(description="how often it was changed")
    editable_until: datetime = Field(description="until when it may still be changed")


async def get_feedback(
    session: AsyncSession, order_id: UUID, *, edit_window: timedelta, vault: Vault
) -> FeedbackRead | None:
    """The order's feedback, or None if none was given."""
    row = (
        (await session.execute(_FEEDBACK.where(feedback.c.order_id == order_id))).mappings().first()
    )
    return None if row is None else _read(row, edit_window, vault)


async def page(
    session: AsyncSession,
    *,
    rating_at_most: int | None,
    since: datetime | None,
    after: tuple[Any, ...] | None,
    limit: int,
    edit_window: timedelta,
    vault: Vault,
) -> list[FeedbackRead]:
    """Up to ``limit`` feedbacks, newest given first, after the (given_at, order_id) ``after``."""
    c = feedback.c
    order = (c.given_at, c.order_id)
    query = _FEEDBACK.order_by(*(column.desc() for column in order)).limit(limit)
    if after is not None:
        query = query.where(older_than(order, after))
    if rating_at_most is not None:
        query = query.where(c.rating <= rating_at_most)
    if since is not None:
        query = query.where(c.given_at >= since)
    rows = (await session.execute(query)).mappings()
    return [_read(row, edit_window, vault) for row in rows]


def _read(row: RowMapping, edit_window: timedelta, vault: Vault) -> FeedbackRead:
    opener = Opener.of_row(vault, row)
    return FeedbackRead(
        **{name: row[name] for name in FeedbackRead.model_fields if name not in _OPENED},
        comment=opener.open(FEEDBACK_COMMENT, row["comment_sealed"], row["comment"]),
        erased=opener.erased,
        editable_until=row["given_at"] + edit_window,
    )


#: The fields of ``FeedbackRead`` that are not the row's as it holds them.
_OPENED = frozenset({"comment", "erased", "editable_until"})
#: Feedback with its customer's key.
_FEEDBACK = select(feedback, *KEY_COLUMNS).select_from(with_keys(feedback))
