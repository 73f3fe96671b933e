"""HTTP API of cases: a customer (or support for them) opens one, both sides write, support
notes, assigns and moves it, the customer rates it.

Who may call: a customer opens cases about their own orders (another customer's order is
a 404, as if it did not exist), reads and writes on their own cases (without the internal
notes, which only support sees) and rates them; support opens cases for any customer, lists
and reads every case with its notes, writes to the customer, notes, assigns and moves
cases (assignments and moves audited); admin may do everything. Who acts is the token's
subject, never a field of the body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from orderly_kit import pages
from orderly_kit.audit import Actor
from orderly_kit.auth import Caller, Permission, Role
from orderly_kit.http_errors import invalid, refusal
from orderly_kit.pages import Cursor, Limit, Page
from orderly_kit.service import Service
from orderly_schemas.support import CaseCategory, Score
from orderly_schemas.support import CaseStatus as Status
from orderly_support import queries, use_cases
from orderly_support.domain.cases import MAX_MESSAGE, MAX_SUBJECT, CaseStatus, Party
from orderly_support.entrypoints.http.orders import NOT_FOUND, order_seen_by
from orderly_support.queries.cases import CaseRead, CaseSummary
from orderly_support.settings import SupportSettings

OPEN = Permission.of("cases:open", Role.SUPPORT, own=[Role.CUSTOMER], description="open a case")
LIST = Permission.of("cases:list", Role.SUPPORT, description="list every customer's cases")
READ = Permission.of("cases:read", Role.SUPPORT, own=[Role.CUSTOMER])
WRITE = Permission.of(
    "cases:write", Role.SUPPORT, own=[Role.CUSTOMER], description="write to the other side"
)
NOTE = Permission.of("cases:note", Role.SUPPORT, description="add an internal note")
MANAGE = Permission.of(
    "cases:manage", Role.SUPPORT, description="assign a case, move it to another status"
)
RATE = Permission.of(
    "cases:rate", own=[Role.CUSTOMER], description="rate a resolved case of one's own"
)

_NO_CASE: dict[int | str, dict[str, Any]] = {
    404: refusal("no case by this id that the caller may see")
}
_CLOSED = refusal("the case is closed")

Text = Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE)]


class CaseCreate(BaseModel):
    """What the case is about, in a subject and a first message."""

    model_config = ConfigDict(extra="forbid")

    category: CaseCategory
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    message: Text = Field(description="the first message: the customer's, or support's to them")
    order: str | None = Field(
        default=None, min_length=1, max_length=64, description="an order number or id"
    )
    return_id: UUID | None = None
    claim_id: UUID | None = None
    customer_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="support: the customer the case is for (else the order's); a customer"
        " leaves it out",
    )


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Text


class AssigneeSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str | None = Field(
        min_length=1, max_length=200, description="a support agent's subject; null: nobody"
    )


class StatusSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status
    reason: str | None = Field(default=None, min_length=1, max_length=1000)


class SatisfactionGive(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: Score


def _party(caller: Caller) -> Party:
    """Support's side, or the customer's: an admin acts for support."""
    return Party.CUSTOMER if caller.only_customer is not None else Party.SUPPORT


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["cases"])
    database = service.database
    messaging = service.messaging
    vault = messaging.vault
    assert vault is not None, "the support service is built with its customer_keys"
    assert isinstance(service.settings, SupportSettings)
    policy = service.settings.sla_policy()

    async def shown(case_id: UUID, caller: Caller) -> CaseRead:
        """The case if ``caller`` may see it (notes for support only); else 404, whether or
        not it exists."""
        async with database.sessions() as session:
            found = await queries.cases.get_case(
                session, case_id, notes=_party(caller) is Party.SUPPORT, vault=vault
            )
        caller.must_see(found.customer_id if found else None, f"case {str(case_id)!r}")
        assert found is not None
        return found

    @r.post(
        "/cases",
        status_code=status.HTTP_201_CREATED,
        response_model=CaseRead,
        responses={404: NOT_FOUND},
    )
    async def open_case(body: CaseCreate, caller: Annotated[Caller, Depends(OPEN)]) -> CaseRead:
        """Open a case with its first message; its agreements' clocks start now."""
        customer_id = body.customer_id
        if (own := caller.only_customer) is not None:
            if customer_id not in (None, own):
                raise invalid(
                    ("body", "customer_id"),
                    "a customer opens cases for themselves: leave customer_id out",
                    customer_id,
                )
            customer_id = own
        order_id = None if body.order is None else await order_seen_by(database, body.order, caller)
        async with messaging.unit_of_work() as uow:
            case = await use_cases.cases.open_case(
                uow,
                customer_id=customer_id,
                order_id=order_id,
                return_id=body.return_id,
                claim_id=body.claim_id,
                category=body.category,
                subject=body.subject,
                message=body.message,
                by=caller.actor,
                party=_party(caller),
                policy=policy,
            )
        if case is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no order {body.order!r}")
        return await shown(case.case_id, caller)

    @r.get("/cases", response_model=Page[CaseSummary], dependencies=[Depends(LIST)])
    async def list_cases(
        of_status: Annotated[Status | None, Query(alias="status")] = None,
        assignee: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        breached: Annotated[
            bool | None, Query(description="true: only cases that missed an agreement")
        ] = None,
        category: CaseCategory | None = None,
        order: Annotated[
            str | None, Query(min_length=1, max_length=64, description="an order number or id")
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[CaseSummary]:
        """Cases, newest opened first, filtered by status, assignee, breach, category or order."""
        after = pages.decode(cursor, datetime, UUID)
        async with database.sessions() as session:
            order_id = None
            if order is not None:
                known = await queries.orders.owner_of(session, order)
                if known is None:
                    return Page(items=[], next=None)
                order_id = known[0]
            found = await queries.cases.page(
                session,
                status=of_status,
                assignee=assignee,
                breached=breached,
                category=category,
                order_id=order_id,
                after=after,
                limit=limit + 1,
                vault=vault,
            )
        items, following = pages.cut(found, limit, lambda c: (c.opened_at, c.case_id))
        return Page(items=items, next=following)

    @r.get("/cases/{case_id}", response_model=CaseRead, responses=_NO_CASE)
    async def get_case(case_id: UUID, caller: Annotated[Caller, Depends(READ)]) -> CaseRead:
        """A case with its conversation, history and agreements (and, for support, notes)."""
        return await shown(case_id, caller)

    @r.post(
        "/cases/{case_id}/messages",
        status_code=status.HTTP_201_CREATED,
        response_model=CaseRead,
        responses={**_NO_CASE, 409: _CLOSED},
    )
    async def write_message(
        case_id: UUID, body: MessageCreate, caller: Annotated[Caller, Depends(WRITE)]
    ) -> CaseRead:
        """Write to the other side: support's first message is the first response; the
        customer's reply opens a case waiting on them, or resolved, again."""
        await shown(case_id, caller)
        async with messaging.unit_of_work() as uow:
            await use_cases.cases.write_message(
                uow, case_id, body=body.body, by=caller.actor, party=_party(caller)
            )
        return await shown(case_id, caller)

    @r.post(
        "/cases/{case_id}/notes",
        status_code=status.HTTP_201_CREATED,
        response_model=CaseRead,
        responses=_NO_CASE,
    )
    async def add_note(
        case_id: UUID, body: MessageCreate, caller: Annotated[Caller, Depends(NOTE)]
    ) -> CaseRead:
        """Add an internal note, which the customer never sees."""
        async with messaging.unit_of_work() as uow:
            await use_cases.cases.add_note(uow, case_id, body=body.body, by=caller.actor)
        return await shown(case_id, caller)

    @r.put(
        "/cases/{case_id}/assignee",
        response_model=CaseRead,
        responses={**_NO_CASE, 409: _CLOSED},
    )
    async def assign_case(
        case_id: UUID, body: AssigneeSet, caller: Annotated[Caller, Depends(MANAGE)]
    ) -> CaseRead:
        """Give the case to a support agent, or to nobody."""
        async with messaging.unit_of_work() as uow:
            await use_cases.cases.assign_case(
                uow, case_id, assignee=body.assignee, staff=Actor.of(caller)
            )
        return await shown(case_id, caller)

    @r.post(
        "/cases/{case_id}/status",
        response_model=CaseRead,
        responses={**_NO_CASE, 409: refusal("the case cannot move from its status to this one")},
    )
    async def move_case(
        case_id: UUID, body: StatusSet, caller: Annotated[Caller, Depends(MANAGE)]
    ) -> CaseRead:
        """Move the case to another status; moving it where it is changes nothing."""
        async with messaging.unit_of_work() as uow:
            await use_cases.cases.move_case(
                uow,
                case_id,
                to=CaseStatus(body.status),
                reason=body.reason,
                staff=Actor.of(caller),
            )
        return await shown(case_id, caller)

    @r.post(
        "/cases/{case_id}/satisfaction",
        response_model=CaseRead,
        responses={**_NO_CASE, 409: refusal("the case is not resolved yet, or was rated")},
    )
    async def rate_case(
        case_id: UUID, body: SatisfactionGive, caller: Annotated[Caller, Depends(RATE)]
    ) -> CaseRead:
        """Rate a resolved or closed case, once: a resolved case closes with the score."""
        await shown(case_id, caller)
        async with messaging.unit_of_work() as uow:
            await use_cases.cases.rate_case(uow, case_id, score=body.score, by=caller.actor)
        return await shown(case_id, caller)

    return r
