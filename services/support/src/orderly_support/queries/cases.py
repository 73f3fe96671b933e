"""Cases as the HTTP API shows them (no locks, no aggregate): one case with its conversation
and history, support's list of cases, and the count per status for the gauge.

A customer's read of a case never touches ``case_notes``: ``get_case(notes=False)``. The
words are opened with the customer's data key, read beside the case; once the customer's
personal data was erased they read null and the case says ``erased``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import RowMapping, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.pages import older_than
from orderly_kit.personal_data import Vault
from orderly_schemas.support import CaseCategory, CaseStatus
from orderly_support.adapters.orm import case_messages, case_notes, case_status_history, cases
from orderly_support.adapters.personal_data import (
    CASE_MESSAGE,
    CASE_NOTE,
    CASE_REASON,
    CASE_SUBJECT,
    KEY_COLUMNS,
    Opener,
    with_keys,
)

#: Said of the words of a customer whose personal data was erased.
ERASED = "null once the customer's personal data was erased"


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
    subject: str | None = Field(description=ERASED)
    status: CaseStatus
    customer_id: str
    erased: bool = Field(
        default=False,
        description="the customer's personal data was erased: the case's words read null",
    )
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
    body: str | None = Field(description=ERASED)
    at: datetime


class NoteRead(BaseModel):
    """An internal note of support's: never shown to the customer."""

    author: str
    body: str | None = Field(description=ERASED)
    at: datetime


class StatusStep(BaseModel):
    from_status: CaseStatus | None = Field(description="null for the case's opening")
    to_status: CaseStatus
    by: str = Field(description="who moved it: a subject")
    reason: str | None = Field(description=f"if one was given; {ERASED}")
    at: datetime


class CaseRead(CaseSummary):
    """A case with its conversation and history (and, for support, its notes)."""

    messages: list[MessageRead] = Field(description="oldest first")
    notes: list[NoteRead] | None = Field(
        description="support's internal notes, oldest first; null for the customer"
    )
    history: list[StatusStep] = Field(description="every status it moved to, oldest first")


async def get_case(
    session: AsyncSession, case_id: UUID, *, notes: bool, vault: Vault
) -> CaseRead | None:
    """The case with its messages and history, and its notes if ``notes``; or None."""
    row = (await session.execute(_CASES.where(cases.c.case_id == case_id))).mappings().first()
    if row is None:
        return None
    opener = Opener.of_row(vault, row)
    return CaseRead(
        **_summary(row, opener).model_dump(),
        messages=[
            MessageRead(
                party=m["party"],
                author=m["author"],
                body=opener.open(CASE_MESSAGE, m["body_sealed"], m["body"]),
                at=m["at"],
            )
            for m in await _of_case(session, case_messages, case_id)
        ],
        notes=[
            NoteRead(
                author=n["author"],
                body=opener.open(CASE_NOTE, n["body_sealed"], n["body"]),
                at=n["at"],
            )
            for n in await _of_case(session, case_notes, case_id)
        ]
        if notes
        else None,
        history=[
            StatusStep(
                from_status=h["from_status"],
                to_status=h["to_status"],
                by=h["by"],
                reason=opener.open(CASE_REASON, h["reason_sealed"], h["reason"]),
                at=h["at"],
            )
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
    vault: Vault,
) -> list[CaseSummary]:
    """Up to ``limit`` cases, newest opened first, after the (opened_at, case_id) ``after``;
    ``breached``: only cases that missed an agreement (or, False, only those that did not)."""
    c = cases.c
    order = (c.opened_at, c.case_id)
    query = _CASES.order_by(*(column.desc() for column in order)).limit(limit)
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
    rows = (await session.execute(query)).mappings()
    return [_summary(row, Opener.of_row(vault, row)) for row in rows]


async def count_not_closed(session: AsyncSession) -> dict[str, int]:
    """How many cases are in each status but closed (statuses without any are left out)."""
    found = await session.execute(
        select(cases.c.status, func.count())
        .where(cases.c.status != "closed")
        .group_by(cases.c.status)
    )
    return {status: int(n) for status, n in found.tuples()}


def _summary(row: RowMapping, opener: Opener) -> CaseSummary:
    return CaseSummary(
        **{name: row[name] for name in CaseSummary.model_fields if name in _AS_STORED},
        subject=opener.open(CASE_SUBJECT, row["subject_sealed"], row["subject"]),
        erased=opener.erased,
        sla=SlaRead(
            **{name: row[name] for name in SlaRead.model_fields if name in row},
            resolution_paused_seconds=row["resolution_paused"].total_seconds(),
        ),
    )


#: The fields of a summary shown as the case's row holds them.
_AS_STORED = frozenset(CaseSummary.model_fields) - {"subject", "erased", "sla"}
#: A case with its customer's key.
_CASES = select(cases, *KEY_COLUMNS).select_from(with_keys(cases))


async def _of_case(session: AsyncSession, table: Any, case_id: UUID) -> list[RowMapping]:
    found = await session.execute(
        select(table).where(table.c.case_id == case_id).order_by(table.c.id)
    )
    return list(found.mappings())
