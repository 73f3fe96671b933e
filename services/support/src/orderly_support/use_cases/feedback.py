"""Feedback on delivered orders: given by the order's customer, changed within its window.

It works through the ``Feedbacks`` its unit of work hands out (``uow.repository``) and
publishes FeedbackGiven through the outbox in the same transaction. The order's row is held
while the feedback is decided, so two submissions for one order are taken one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from orderly_kit.messaging import UnitOfWork
from orderly_schemas.support import LineRating
from orderly_support.adapters.feedback import FeedbackRepository, Feedbacks
from orderly_support.adapters.personal_data import Sealer
from orderly_support.domain.feedback import Feedback, FeedbackPolicy


def _in_postgres(uow: UnitOfWork) -> FeedbackRepository:
    return FeedbackRepository(uow.session, sealer=Sealer(uow.vault, uow.session, uow.now))


async def give_feedback(
    uow: UnitOfWork,
    order_id: UUID,
    *,
    rating: int,
    comment: str | None,
    line_ratings: Sequence[LineRating],
    by: str,
    policy: FeedbackPolicy,
) -> tuple[Feedback, bool] | None:
    """Give feedback on a delivered order, or change it within its edit window: the feedback
    and whether it was given now for the first time; None if support knows no such order.

    Raises the domain's refusals (``domain.feedback``): the order not delivered, the edit
    window closed, a line rating of a SKU the order does not hold; CustomerErasedError for a
    comment of a customer whose personal data was erased.
    """
    repo: Feedbacks = uow.repository(_in_postgres)
    order = await repo.order_held(order_id)
    if order is None:
        return None
    given = await repo.get(order_id)
    now = uow.now()
    if given is None:
        given = Feedback.give(
            order, rating=rating, comment=comment, line_ratings=line_ratings, by=by, now=now
        )
        await repo.add(given)
        first = True
    else:
        if given.edit(
            order,
            rating=rating,
            comment=comment,
            line_ratings=line_ratings,
            now=now,
            policy=policy,
        ):
            await repo.save(given)
        first = False
    for message in given.messages:
        await uow.publish(message)
    given.messages.clear()
    return given, first
