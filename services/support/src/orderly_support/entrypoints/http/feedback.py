"""HTTP API of feedback: a customer rates their delivered order; support reads what customers
said.

Who may call: the order's customer gives and changes feedback on it and reads it (another
customer's order is a 404, as if it did not exist); support reads any order's feedback and
the list of all; admin may do everything. Who gave it is the token's subject.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from orderly_kit import pages
from orderly_kit.auth import Caller, Permission, Role
from orderly_kit.http_errors import refusal
from orderly_kit.pages import Cursor, Limit, Page
from orderly_kit.service import Service
from orderly_schemas.support import MAX_LINE_RATINGS, LineRating, Score
from orderly_support import queries, use_cases
from orderly_support.domain.feedback import MAX_COMMENT
from orderly_support.entrypoints.http.orders import NOT_FOUND, OrderRef, order_seen_by
from orderly_support.queries.feedback import FeedbackRead
from orderly_support.settings import SupportSettings

GIVE = Permission.of(
    "feedback:give", own=[Role.CUSTOMER], description="rate a delivered order of one's own"
)
READ = Permission.of("feedback:read", Role.SUPPORT, own=[Role.CUSTOMER])
REPORT = Permission.of(
    "feedback:report", Role.SUPPORT, description="read every customer's feedback"
)

_NO_FEEDBACK = refusal("no such order that the caller may see, or no feedback on it yet")


class FeedbackGive(BaseModel):
    """A rating of the order, and optionally words and ratings of its lines."""

    model_config = ConfigDict(extra="forbid")

    rating: Score
    comment: str | None = Field(
        default=None, max_length=MAX_COMMENT, description="in the customer's words"
    )
    line_ratings: list[LineRating] = Field(
        default_factory=list,
        max_length=MAX_LINE_RATINGS,
        description="ratings of the order's SKUs, each SKU of the order at most once",
    )


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["feedback"])
    database = service.database
    messaging = service.messaging
    vault = messaging.vault
    assert vault is not None, "the support service is built with its customer_keys"
    assert isinstance(service.settings, SupportSettings)
    policy = service.settings.feedback_policy()

    async def read(order_id: UUID, ref: str) -> FeedbackRead:
        async with database.sessions() as session:
            found = await queries.feedback.get_feedback(
                session, order_id, edit_window=policy.edit_window, vault=vault
            )
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no feedback on order {ref!r} yet")
        return found

    @r.put(
        "/orders/{ref}/feedback",
        response_model=FeedbackRead,
        status_code=status.HTTP_201_CREATED,
        responses={
            200: {"model": FeedbackRead, "description": "the feedback was changed (or kept)"},
            404: NOT_FOUND,
            409: refusal("the order was not delivered yet, or its feedback can no longer change"),
        },
    )
    async def give_feedback(
        ref: OrderRef,
        body: FeedbackGive,
        caller: Annotated[Caller, Depends(GIVE)],
        response: Response,
    ) -> FeedbackRead:
        """Rate a delivered order (201), or change its rating within the edit window (200)."""
        order_id = await order_seen_by(database, ref, caller)
        async with messaging.unit_of_work() as uow:
            given = await use_cases.feedback.give_feedback(
                uow,
                order_id,
                rating=body.rating,
                comment=body.comment,
                line_ratings=body.line_ratings,
                by=caller.actor,
                policy=policy,
            )
        assert given is not None  # the order was seen above, and orders are never deleted
        if not given[1]:
            response.status_code = status.HTTP_200_OK
        return await read(order_id, ref)

    @r.get("/orders/{ref}/feedback", response_model=FeedbackRead, responses={404: _NO_FEEDBACK})
    async def get_feedback(ref: OrderRef, caller: Annotated[Caller, Depends(READ)]) -> FeedbackRead:
        """The order's feedback: the rating, the comment and the lines' ratings."""
        return await read(await order_seen_by(database, ref, caller), ref)

    @r.get("/feedback", response_model=Page[FeedbackRead], dependencies=[Depends(REPORT)])
    async def list_feedback(
        rating_at_most: Annotated[
            int | None, Query(ge=1, le=5, description="only ratings this low or lower")
        ] = None,
        since: Annotated[
            AwareDatetime | None, Query(description="only feedback first given since then")
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[FeedbackRead]:
        """Feedback, newest first given first: the unhappy customers with ``rating_at_most``."""
        after = pages.decode(cursor, datetime, UUID)
        async with database.sessions() as session:
            found = await queries.feedback.page(
                session,
                rating_at_most=rating_at_most,
                since=since,
                after=after,
                limit=limit + 1,
                edit_window=policy.edit_window,
                vault=vault,
            )
        items, following = pages.cut(found, limit, lambda f: (f.given_at, f.order_id))
        return Page(items=items, next=following)

    return r
