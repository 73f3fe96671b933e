"""Cases as the HTTP API shows them (no locks, no aggregate): one case with its conversation
and history, support's list of cases, and the count per status for the gauge.

A customer's read of a case never touches ``case_notes``: ``get_case(notes=False)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import RowMapping, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.pages import older_than
from orderly_schemas.support import CaseCategory, CaseStatus
from orderly_support.adapters.orm import case_messages, case_notes, case_status_history, cases


class SlaRead(BaseModel):
    """The case's two agreements: when each is due, met or missed."""

    first_response_due_at: datetime
    first_responded_at: datetime | None = Field(description="support's first message to them")
    first_response_breached_at: datetime | None = Field(description="when it was found missed")
    resolution_due_at: datetime = Field(description="moved on by every pause so far")
    resolution_paused_since: datetime | None = Field(
        description="the resolution clock stands still (waiting on the customer, or resolved)"
    )
    resolution_paused_seconds: float = Field(description="how long it stood still before")
    resolved_at: datetime | None
    resolution_breached_at: datetime | None


class CaseSummary(BaseModel):
    """A case as support's list shows it."""

    case_id: UUID
    case_number: str
    category: CaseCategory
    subject: str
    status: CaseStatus
    customer_id: str
    order_id: UUID | None
    order_number: str | None
    return_id: UUID | None
    claim_id: UUID | None
    assignee: str | None = Field(description="the support agent who has it (their subject)")
    opened_by: str = Field(description="who opened it: the customer's or the agent's subject")
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    satisfaction: int | None = Field(description="the customer's score, 1 to 5, if given")
    sla: SlaRead


class MessageRead(BaseModel):
    """A message of the conversation with the customer."""

    party: str = Field(description="customer (from them) or support (to them)")
    author: str = Field(description="who wrote it: a subject")
    body: str
    at: datetime


class NoteRead(BaseModel):
    """An internal note of support's: never shown to the customer."""

    author: str
    body: str
    at: datetime


class StatusStep(BaseModel):
    from_status: CaseStatus | None = Field(description="null for the case's opening")
    to_status: CaseStatus
    by: str = Field(description="who moved it: a subject")
    reason: str | None
    at: datetime


class CaseRead(CaseSummary):
    """A case with its conversation and history (and, for support, its notes)."""

    messages: list[MessageRead] = Field(description="oldest first")
    notes: list[NoteRead] | None = Field(
        description="support's internal notes, oldest first; null for the customer"
    )
    history: list[StatusStep] = Field(description="every status it moved to, oldest first")


async def get_case(session: AsyncSession, case_id: UUID, *, notes: bool) -> CaseRead | None:
    """The case with its messages and history, and its notes if ``notes``; or None."""
    row = (
        (await session.execute(select(cases).where(cases.c.case_id == case_id))).mappings().first()
    )
    if row is None:
        return None
    return CaseRead(
        **_summary(row).model_dump(),
        messages=[
            MessageRead.model_validate(m) for m in await _of_case(session, case_messages, case_id)
        ],
        notes=[NoteRead.model_validate(n) for n in await _of_case(session, case_notes, case_id)]
        if notes
        else None,
        history=[
            StatusStep.model_validate(h)
            for h in await _of_case(session, case_status_history, case_id)
        ],
    )


async def page(
    session: AsyncSession,
    *,
    status: CaseStatus | None = None,
    assignee: str | None = None,
    breached: bool | None = None,
    category: CaseCategory | None = None,
    order_id: UUID | None = None,
    after: tuple[Any, ...] | None = None,
    limit: int,
) -> list[CaseSummary]:
    """Up to ``limit`` cases, newest opened first, after the (opened_at, case_id) ``after``;
    ``breached``: only cases that missed an agreement (or, False, only those that did not)."""
    c = cases.c
    order = (c.opened_at, c.case_id)
    query = select(cases).order_by(*(column.desc() for column in order)).limit(limit)
    if after is not None:
        query = query.where(older_than(order, after))
    missed = or_(c.first_response_breached_at.is_not(None), c.resolution_breached_at.is_not(None))
    for wanted, condition in (
        (status, c.status == status),
        (assignee, c.assignee == assignee),
        (category, c.category == category),
        (order_id, c.order_id == order_id),
        (breached, missed if breached else ~missed),
    ):
        if wanted is not None:
            query = query.where(condition)
    return [_summary(row) for row in (await session.execute(query)).mappings()]


async def count_not_closed(session: AsyncSession) -> dict[str, int]:
    """How many cases are in each status but closed (statuses without any are left out)."""
    found = await session.execute(
        select(cases.c.status, func.count())
        .where(cases.c.status != "closed")
        .group_by(cases.c.status)
    )
    return {status: int(n) for status, n in found.tuples()}


def _summary(row: RowMapping) -> CaseSummary:
    return CaseSummary(
        **{name: row[name] for name in CaseSummary.model_fields if name != "sla"},
        sla=SlaRead(
            **{name: row[name] for name in SlaRead.model_fields if name in row},
            resolution_paused_seconds=row["resolution_paused"].total_seconds(),
        ),
    )


async def _of_case(session: AsyncSession, table: Any, case_id: UUID) -> list[RowMapping]:
    found = await session.execute(
        select(table).where(table.c.case_id == case_id).order_by(table.c.id)
    )
    return list(found.mappings())
