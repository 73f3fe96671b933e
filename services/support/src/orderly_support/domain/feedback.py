"""A customer's feedback on a delivered order (no I/O).

One per order: a rating of 1 to 5, an optional comment, optional ratings of the order's
lines (one per SKU, each SKU of the order). It is given once the order is delivered, never
before, and may be changed for ``FeedbackPolicy.edit_window`` after it was first given;
then it stands. Giving the same feedback again changes nothing. Each change is announced
as FeedbackGiven (``edited`` after the first), which carries whether there is a comment,
never the comment.

The caller holds the order's row while it decides (``adapters/feedback.py``), so two
submissions for one order are one feedback and an edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

from orderly_schemas.base import Message
from orderly_schemas.support import FeedbackGiven, LineRating
from orderly_support.domain.orders import KnownOrder
from orderly_support.domain.refusals import ConflictError, InvalidRequestError

#: The longest comment a customer may leave.
MAX_COMMENT: Final = 2000


class OrderNotDeliveredError(ConflictError):
    """Feedback on an order whose goods have not reached the customer."""


class FeedbackClosedError(ConflictError):
    """A change to feedback after its edit window."""


@dataclass(frozen=True)
class FeedbackPolicy:
    """How long after it was first given feedback may still be changed."""

    edit_window: timedelta = timedelta(days=14)


@dataclass
class Feedback:
    order_id: UUID
    order_number: str
    customer_id: str
    rating: int
    comment: str | None
    line_ratings: list[LineRating]
    #: Who gave it: the customer's subject (an admin's, when one gave it for them).
    given_by: str
    given_at: datetime
    updated_at: datetime
    edits: int = 0
    #: Messages its decisions caused since it was loaded.
    messages: list[Message] = field(default_factory=list)

    @classmethod
    def give(
        cls,
        order: KnownOrder,
        *,
        rating: int,
        comment: str | None,
        line_ratings: Sequence[LineRating],
        by: str,
        now: datetime,
    ) -> Feedback:
        """The first feedback on ``order``; OrderNotDeliveredError before its delivery,
        InvalidRequestError for a line rating of a SKU the order does not hold."""
        _check_delivered(order)
        _check_lines(order, line_ratings)
        given = cls(
            order_id=order.order_id,
            order_number=order.order_number,
            customer_id=order.customer_id,
            rating=rating,
            comment=_text(comment),
            line_ratings=list(line_ratings),
            given_by=by,
            given_at=now,
            updated_at=now,
        )
        given._announce(now)
        return given

    def edit(
        self,
        order: KnownOrder,
        *,
        rating: int,
        comment: str | None,
        line_ratings: Sequence[LineRating],
        now: datetime,
        policy: FeedbackPolicy,
    ) -> bool:
        """Change the feedback within its edit window; False if nothing changed (the same
        feedback again). FeedbackClosedError after the window."""
        closes = self.given_at + policy.edit_window
        if now > closes:
            raise FeedbackClosedError(
                f"feedback on order {self.order_number} was given on {self.given_at:%Y-%m-%d};"
                f" it could be changed for {_days(policy.edit_window)}, until"
                f" {closes:%Y-%m-%d %H:%M} UTC, and now stands as given"
            )
        _check_lines(order, line_ratings)
        wanted = (rating, _text(comment), list(line_ratings))
        if wanted == (self.rating, self.comment, self.line_ratings):
            return False
        self.rating, self.comment, self.line_ratings = wanted
        self.edits += 1
        self.updated_at = now
        self._announce(now)
        return True

    def _announce(self, now: datetime) -> None:
        self.messages.append(
            FeedbackGiven(
                order_id=self.order_id,
                order_number=self.order_number,
                customer_id=self.customer_id,
                rating=self.rating,
                line_ratings=self.line_ratings,
                has_comment=self.comment is not None,
                edited=self.edits > 0,
                occurred_at=now,
            )
        )


def _check_delivered(order: KnownOrder) -> None:
    if not order.delivered:
        raise OrderNotDeliveredError(
            f"order {order.order_number} has not been delivered yet; feedback can be given"
            " once it has"
        )


def _check_lines(order: KnownOrder, line_ratings: Sequence[LineRating]) -> None:
    seen: set[str] = set()
    for i, line in enumerate(line_ratings):
        if line.sku in seen:
            raise InvalidRequestError(
                ("line_ratings", i, "sku"),
                f"sku {line.sku!r} is rated more than once; rate each SKU once",
                value=line.sku,
            )
        seen.add(line.sku)
        if line.sku not in order.skus:
            raise InvalidRequestError(
                ("line_ratings", i, "sku"),
                f"order {order.order_number} has no line of sku {line.sku!r}",
                value=line.sku,
            )


def _text(comment: str | None) -> str | None:
    """A comment of only white space is no comment."""
    return comment if comment and comment.strip() else None


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:g} day(s)"
