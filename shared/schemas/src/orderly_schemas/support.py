"""After-sales cases and order feedback on ``support.events.v1``, from the support service.

A case: opened (by a customer about their own order, or by support for any customer) →
status changes (new → open → waiting_on_customer → resolved → closed; resolved → open
again when the customer replies; closed by support from any status) → closed, with the
customer's satisfaction when they gave it. A service-level agreement missed (the first
response, or the resolution) is announced once per case and agreement. Feedback: the
customer's rating of a delivered order (and of its lines), given once and edited within a
window.

No free text and no personal data travel here: no subject, message, internal note or
comment (they stay in the support service's database, which support reads over its API),
no name, email or address; a customer is named by ``customer_id`` alone, and a comment
only by whether there is one (``has_comment``). Each event is keyed by its order's id
when it concerns an order, so that an order's feedback and cases keep their order on the
topic; a case without an order is keyed by its case id.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from orderly_schemas import topics
from orderly_schemas.base import AwareDatetime, Message, Sku

#: What a case is about.
CaseCategory = Literal["delivery", "damaged", "missing_item", "payment", "return", "other"]
#: Where a case stands.
CaseStatus = Literal["new", "open", "waiting_on_customer", "resolved", "closed"]
#: The agreements every case is held to: its first answer, and its resolution.
Sla = Literal["first_response", "resolution"]
#: A customer's score: 1 (very poor) to 5 (very good).
Score = Annotated[StrictInt, Field(ge=1, le=5, description="1 (very poor) to 5 (very good)")]
#: The most lines a feedback rates: one per SKU of its order (an order has at most 200 lines).
MAX_LINE_RATINGS: Final = 200


class LineRating(BaseModel):
    """The customer's score of one SKU of the order."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: Sku
    rating: Score


class FeedbackGiven(Message):
    """The customer rated a delivered order, or changed their rating (``edited``)."""

    topic = topics.SUPPORT_EVENTS

    order_id: UUID
    order_number: str = Field(min_length=1, max_length=32)
    customer_id: str = Field(min_length=1, max_length=64)
    rating: Score
    line_ratings: list[LineRating] = Field(
        default_factory=list, max_length=MAX_LINE_RATINGS, description="at most one per SKU"
    )
    has_comment: bool = Field(description="whether the customer wrote a comment (kept by support)")
    edited: bool = Field(description="false the first time, true for each later change")
    occurred_at: AwareDatetime


class CaseEvent(Message):
    """A step of one case: which case, what about, whose, and what it is linked to."""

    topic = topics.SUPPORT_EVENTS

    case_id: UUID
    case_number: str = Field(min_length=1, max_length=32, description="e.g. CS-0000042")
    category: CaseCategory
    customer_id: str = Field(min_length=1, max_length=64)
    order_id: UUID | None = Field(default=None, description="the order the case is about, if any")
    order_number: str | None = Field(default=None, min_length=1, max_length=32)
    return_id: UUID | None = Field(default=None, description="the return it is about, if any")
    claim_id: UUID | None = Field(default=None, description="the claim it is about, if any")
    occurred_at: AwareDatetime


class CaseOpened(CaseEvent):
    """A case was opened, by its customer or by support for them; it is ``new`` and its
    agreements' clocks run from now."""

    opened_by: Literal["customer", "support"]
    first_response_due_at: AwareDatetime
    resolution_due_at: AwareDatetime


class CaseStatusChanged(CaseEvent):
    """The case moved from one status to another (to ``closed`` as well: CaseClosed
    follows)."""

    from_status: CaseStatus
    to_status: CaseStatus


class CaseSlaBreached(CaseEvent):
    """An agreement of the case was missed: announced once per case and agreement."""

    sla: Sla
    due_at: AwareDatetime = Field(description="when it was due (pauses included)")


class CaseClosed(CaseEvent):
    """The case was closed; ``satisfaction`` is the customer's score, if they gave one.

    Sent again, with the score, when the customer rates a case that closed unrated: a
    reader keeps the latest of a case."""

    satisfaction: Score | None = None
