"""Feedback on delivered orders: after delivery only, the order's SKUs only, changed within
its window and then never (``test_feedback.py`` in the integration tests runs it through
the API on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from orderly_schemas.support import FeedbackGiven, LineRating
from orderly_support.domain.feedback import (
    Feedback,
    FeedbackClosedError,
    FeedbackPolicy,
    OrderNotDeliveredError,
)
from orderly_support.domain.orders import KnownOrder
from orderly_support.domain.refusals import InvalidRequestError

DELIVERED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = FeedbackPolicy(edit_window=timedelta(days=14))
MUG, TEA = "MUG-001", "TEA-002"
ORDER = KnownOrder(uuid4(), "ORD-0000001", "C-ADA", frozenset({MUG, TEA}), DELIVERED_AT)


def given(
    *,
    rating: int = 4,
    comment: str | None = "the mug is lovely",
    line_ratings: list[LineRating] | None = None,
) -> Feedback:
    """Feedback given a day after the delivery (the mug rated 5, unless ``line_ratings``)."""
    return Feedback.give(
        ORDER,
        rating=rating,
        comment=comment,
        line_ratings=[LineRating(sku=MUG, rating=5)] if line_ratings is None else line_ratings,
        by="user-C-ADA",
        now=DELIVERED_AT + timedelta(days=1),
    )


def edit(feedback: Feedback, *, days: float, rating: int = 2, comment: str | None = None) -> bool:
    return feedback.edit(
        ORDER,
        rating=rating,
        comment=comment,
        line_ratings=[],
        now=feedback.given_at + timedelta(days=days),
        policy=POLICY,
    )


def test_feedback_on_a_delivered_order_is_announced_without_its_comment() -> None:
    feedback = given()

    [announced] = feedback.messages
    assert isinstance(announced, FeedbackGiven)
    assert (announced.rating, announced.has_comment, announced.edited) == (4, True, False)
    assert announced.line_ratings == [LineRating(sku=MUG, rating=5)]
    assert "lovely" not in announced.model_dump_json()


def test_feedback_before_the_delivery_is_refused_saying_so() -> None:
    undelivered = KnownOrder(ORDER.order_id, "ORD-0000001", "C-ADA", ORDER.skus, None)

    with pytest.raises(OrderNotDeliveredError, match="has not been delivered yet"):
        Feedback.give(
            undelivered, rating=5, comment=None, line_ratings=[], by="user-C-ADA", now=DELIVERED_AT
        )


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        ([LineRating(sku="SOCK-9", rating=3)], "has no line of sku 'SOCK-9'"),
        ([LineRating(sku=MUG, rating=3), LineRating(sku=MUG, rating=4)], "more than once"),
    ],
)
def test_a_line_rating_of_a_sku_not_in_the_order_or_twice_names_the_line(
    lines: list[LineRating], why: str
) -> None:
    with pytest.raises(InvalidRequestError, match=why) as refused:
        given(line_ratings=lines)

    assert refused.value.loc == ("line_ratings", len(lines) - 1, "sku")


def test_feedback_changed_within_its_window_is_announced_as_edited() -> None:
    feedback = given()
    feedback.messages.clear()

    changed = edit(feedback, days=13.9, comment="  ")

    assert changed is True
    assert (feedback.rating, feedback.comment, feedback.line_ratings) == (2, None, [])
    assert feedback.edits == 1
    [announced] = feedback.messages
    assert isinstance(announced, FeedbackGiven)
    assert (announced.edited, announced.has_comment) == (True, False)


def test_the_same_feedback_again_changes_nothing() -> None:
    feedback = given(rating=2, comment=None, line_ratings=[])
    feedback.messages.clear()

    assert edit(feedback, days=1) is False
    assert feedback.messages == []
    assert feedback.edits == 0


def test_feedback_stands_once_its_window_has_closed() -> None:
    feedback = given()

    with pytest.raises(FeedbackClosedError, match="could be changed for 14 day"):
        edit(feedback, days=14.01)

    assert feedback.rating == 4
