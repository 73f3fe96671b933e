"""Feedback as the HTTP API shows it: one order's, and the list support reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.pages import older_than
from orderly_schemas.support import LineRating
from orderly_support.adapters.orm import feedback


class FeedbackRead(BaseModel):
    order_id: UUID
    order_number: str
    customer_id: str
    rating: int = Field(description="1 (very poor) to 5 (very good)")
    comment: str | None
    line_ratings: list[LineRating]
    given_by: str = Field(description="who gave it: the customer's subject")
    given_at: datetime = Field(description="when it was first given")
    updated_at: datetime = Field(description="when it was last changed")
    edits: int = Field(description="how often it was changed")
    editable_until: datetime = Field(description="until when it may still be changed")


async def get_feedback(
    session: AsyncSession, order_id: UUID, *, edit_window: timedelta
) -> FeedbackRead | None:
    """The order's feedback, or None if none was given."""
    row = (
        (await session.execute(select(feedback).where(feedback.c.order_id == order_id)))
        .mappings()
        .first()
    )
    return None if row is None else _read(row, edit_window)


async def page(
    session: AsyncSession,
    *,
    rating_at_most: int | None,
    since: datetime | None,
    after: tuple[Any, ...] | None,
    limit: int,
    edit_window: timedelta,
) -> list[FeedbackRead]:
    """Up to ``limit`` feedbacks, newest given first, after the (given_at, order_id) ``after``."""
    c = feedback.c
    order = (c.given_at, c.order_id)
    query = select(feedback).order_by(*(column.desc() for column in order)).limit(limit)
    if after is not None:
        query = query.where(older_than(order, after))
    if rating_at_most is not None:
        query = query.where(c.rating <= rating_at_most)
    if since is not None:
        query = query.where(c.given_at >= since)
    return [_read(row, edit_window) for row in (await session.execute(query)).mappings()]


def _read(row: RowMapping, edit_window: timedelta) -> FeedbackRead:
    return FeedbackRead(
        **{name: row[name] for name in FeedbackRead.model_fields if name != "editable_until"},
        editable_until=row["given_at"] + edit_window,
    )
