"""Loads and stores cases, their history, messages and notes (SQLAlchemy Core, within the
unit of work's transaction).

Their words (the subject, messages, notes and the reasons of moves) are sealed under the
customer's data key as they are stored (``adapters/personal_data.py``); a customer erased
here gets none kept (CustomerErasedError). Loading a case reads none of them: its decisions
need no words.
``Cases`` is what the case use cases need of a repository; ``CaseRepository`` keeps the
cases in PostgreSQL. A step on a case holds its row (FOR UPDATE), so two steps on one
case are taken one after the other. Cases past an agreement are claimed with SKIP LOCKED,
so replicas of the service share them and never wait on a case a request holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import RowMapping, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_support.adapters.orders import KnownOrderRepository
from orderly_support.adapters.orm import (
    case_messages,
    case_notes,
    case_number_seq,
    case_status_history,
    cases,
)
from orderly_support.adapters.personal_data import (
    CASE_MESSAGE,
    CASE_NOTE,
    CASE_REASON,
    CASE_SUBJECT,
    Sealer,
)
from orderly_support.domain.cases import Case, CaseStatus, Party
from orderly_support.domain.orders import KnownOrder


class Cases(Protocol):
    """The cases, and the orders they may be about, within one unit of work."""

    async def order(self, order_id: UUID) -> KnownOrder | None: ...

    async def next_case_number(self) -> str: ...

    async def add(self, case: Case, *, subject: str) -> None:
        """A new case, and what it is about in a few words."""
        ...

    async def get(self, case_id: UUID) -> Case | None:
        """The case, held for this unit of work: no other step on it meanwhile."""
        ...

    async def save(self, case: Case) -> None:
        """Store where the case stands, and append its status changes to its history."""
        ...

    async def add_message(
        self, case: Case, *, author: str, party: Party, body: str, at: datetime
    ) -> None:
        """A message of the conversation with the customer, from them or to them."""
        ...

    async def add_note(self, case: Case, *, author: str, body: str, at: datetime) -> None:
        """An internal note of support's, never shown to the customer."""
        ...

    async def claim_due(self, now: datetime, *, limit: int) -> list[Case]:
        """Cases with an agreement due by ``now``, held; none another transaction holds."""
        ...


class CaseRepository:
    """``Cases`` in PostgreSQL; ``sealer`` seals their words."""

    __slots__ = ("orders", "sealer", "session")

    def __init__(self, session: AsyncSession, *, sealer: Sealer) -> None:
        self.session = session
        self.sealer = sealer
        self.orders = KnownOrderRepository(session)

    async def order(self, order_id: UUID) -> KnownOrder | None:
        return await self.orders.get(order_id)

    async def next_case_number(self) -> str:
        value = await self.session.scalar(_NEXT_NUMBER)
        return f"CS-{int(value or 0):07d}"

    async def add(self, case: Case, *, subject: str) -> None:
        await self.session.execute(
            insert(cases).values(
                case_id=case.case_id,
                case_number=case.case_number,
                category=case.category,
                subject_sealed=await self.sealer.seal(case.customer_id, CASE_SUBJECT, subject),
                customer_id=case.customer_id,
                order_id=case.order_id,
                order_number=case.order_number,
                return_id=case.return_id,
                claim_id=case.claim_id,
                opened_by=case.opened_by,
                opened_by_party=case.opened_by_party.value,
                opened_at=case.opened_at,
                **_state(case),
            )
        )
        await self._record_history(case)

    async def get(self, case_id: UUID) -> Case | None:
        row = (await self.session.execute(_GET_LOCKED, {"case_id": case_id})).mappings().first()
        return None if row is None else _loaded(row)

    async def save(self, case: Case) -> None:
        await self.session.execute(
            update(cases).where(cases.c.case_id == case.case_id).values(**_state(case))
        )
        await self._record_history(case)

    async def add_message(
        self, case: Case, *, author: str, party: Party, body: str, at: datetime
    ) -> None:
        sealed = await self.sealer.seal(case.customer_id, CASE_MESSAGE, body)
        await self.session.execute(
            insert(case_messages).values(
                case_id=case.case_id, author=author, party=party.value, body_sealed=sealed, at=at
            )
        )

    async def add_note(self, case: Case, *, author: str, body: str, at: datetime) -> None:
        sealed = await self.sealer.seal(case.customer_id, CASE_NOTE, body)
        await self.session.execute(
            insert(case_notes).values(
                case_id=case.case_id, author=author, body_sealed=sealed, at=at
            )
        )

    async def claim_due(self, now: datetime, *, limit: int) -> list[Case]:
        rows = (await self.session.execute(_DUE, {"now": now, "limit": limit})).mappings()
        return [_loaded(row) for row in rows]

    async def _record_history(self, case: Case) -> None:
        if case.changes:
            seal = self.sealer.seal_optional
            await self.session.execute(
                insert(case_status_history),
                [
                    {
                        "case_id": case.case_id,
                        "from_status": None if c.from_status is None else c.from_status.value,
                        "to_status": c.to_status.value,
                        "by": c.by,
                        "reason_sealed": await seal(case.customer_id, CASE_REASON, c.reason),
                        "at": c.at,
                    }
                    for c in case.changes
                ],
            )
            case.changes.clear()


def _state(case: Case) -> dict[str, Any]:
    return {
        "status": case.status.value,
        "assignee": case.assignee,
        "updated_at": case.updated_at,
        "first_response_due_at": case.first_response_due_at,
        "first_responded_at": case.first_responded_at,
        "first_response_breached_at": case.first_response_breached_at,
        "resolution_due_at": case.resolution_due_at,
        "resolution_paused_since": case.resolution_paused_since,
        "resolution_paused": case.resolution_paused,
        "resolved_at": case.resolved_at,
        "resolution_breached_at": case.resolution_breached_at,
        "closed_at": case.closed_at,
        "satisfaction": case.satisfaction,
        "rated_at": case.rated_at,
        "sla_due_at": case.sla_due_at,
    }


#: The columns a ``Case`` is built from as they are, beside those ``_loaded`` converts.
_AS_STORED = (
    "case_id",
    "case_number",
    "category",
    "customer_id",
    "order_id",
    "order_number",
    "return_id",
    "claim_id",
    "opened_by",
    "opened_at",
    "updated_at",
    "assignee",
    "first_response_due_at",
    "first_responded_at",
    "first_response_breached_at",
    "resolution_due_at",
    "resolution_paused_since",
    "resolution_paused",
    "resolved_at",
    "resolution_breached_at",
    "closed_at",
    "satisfaction",
    "rated_at",
    "sla_due_at",
)


def _loaded(row: RowMapping) -> Case:
    return Case(
        **{name: row[name] for name in _AS_STORED},
        opened_by_party=Party(row["opened_by_party"]),
        status=CaseStatus(row["status"]),
    )


_NEXT_NUMBER = select(case_number_seq.next_value())
#: A case's columns but its words.
_CASE = select(*(cases.c[name] for name in (*_AS_STORED, "opened_by_party", "status")))
_GET_LOCKED = _CASE.where(cases.c.case_id == bindparam("case_id")).with_for_update()
_DUE = (
    _CASE.where(cases.c.sla_due_at <= bindparam("now"))
    .order_by(cases.c.sla_due_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
