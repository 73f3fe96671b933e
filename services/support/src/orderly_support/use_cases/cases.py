"""After-sales cases: opened by a customer (or support for them), written on by both sides,
noted on, assigned, moved through their statuses and rated; and their agreements watched.

Each works through the ``Cases`` its unit of work hands out (``uow.repository``) and
publishes what the step caused through the outbox in the same transaction, keyed by the
case's order (or the case). A step holds the case's row. Support's assignments and moves
are audited (``case.assign``, ``case.move``); messages and notes are kept with their
authors, in the case's own tables. Every word (subject, message, note, a move's reason) is
kept sealed under the customer's data key, and none goes into the audit log, which is kept
for good and could not forget it: a move's audit says whether a reason was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from orderly_kit.audit import Actor
from orderly_kit.messaging import UnitOfWork
from orderly_schemas.support import CaseCategory
from orderly_support.adapters.cases import CaseRepository, Cases
from orderly_support.adapters.personal_data import Sealer
from orderly_support.domain.cases import Case, CaseStatus, Party, Sla, SlaPolicy
from orderly_support.domain.refusals import InvalidRequestError


def _in_postgres(uow: UnitOfWork) -> CaseRepository:
    return CaseRepository(uow.session, sealer=Sealer(uow.vault, uow.session, uow.now))


def _cases(uow: UnitOfWork) -> Cases:
    return uow.repository(_in_postgres)


@dataclass(frozen=True)
class Breach:
    """An agreement a case missed."""

    sla: Sla
    category: str


async def open_case(
    uow: UnitOfWork,
    *,
    customer_id: str | None,
    order_id: UUID | None,
    return_id: UUID | None,
    claim_id: UUID | None,
    category: CaseCategory,
    subject: str,
    message: str,
    by: str,
    party: Party,
    policy: SlaPolicy,
) -> Case | None:
    """Open a case with its first message; None if support knows no such order.

    The case is the order's customer's; without an order, ``customer_id``'s (which support
    names, and a customer's token). InvalidRequestError if both are given and differ, or
    neither; CustomerErasedError for a customer whose personal data was erased.
    """
    repo = _cases(uow)
    order = None
    if order_id is not None:
        order = await repo.order(order_id)
        if order is None:
            return None
        if customer_id is not None and customer_id != order.customer_id:
            raise InvalidRequestError(
                ("customer_id",),
                f"order {order.order_number} is not this customer's; leave customer_id out to"
                " open the case for the order's customer",
                value=customer_id,
            )
        customer_id = order.customer_id
    if customer_id is None:
        raise InvalidRequestError(
            ("customer_id",), "name the customer the case is for, or the order it is about"
        )
    now = uow.now()
    case = Case.open(
        case_id=uuid4(),
        case_number=await repo.next_case_number(),
        category=category,
        customer_id=customer_id,
        order=order,
        return_id=return_id,
        claim_id=claim_id,
        by=by,
        party=party,
        policy=policy,
        now=now,
    )
    _wrote(case, by=by, party=party, now=now)
    await repo.add(case, subject=subject)
    await repo.add_message(case, author=by, party=party, body=message, at=now)
    await _publish(uow, case)
    return case


async def write_message(
    uow: UnitOfWork, case_id: UUID, *, body: str, by: str, party: Party
) -> Case | None:
    """A message to the customer from support, or from the customer to support: support's
    first is the first response; the customer's reopens a case waiting on them or resolved.
    None if there is no such case; CaseClosedError if it is closed."""
    repo = _cases(uow)
    case = await repo.get(case_id)
    if case is None:
        return None
    now = uow.now()
    _wrote(case, by=by, party=party, now=now)
    await repo.add_message(case, author=by, party=party, body=body, at=now)
    await _decided(uow, repo, case)
    return case


async def add_note(uow: UnitOfWork, case_id: UUID, *, body: str, by: str) -> Case | None:
    """An internal note of support's on the case; None if there is no such case."""
    repo = _cases(uow)
    case = await repo.get(case_id)
    if case is not None:
        await repo.add_note(case, author=by, body=body, at=uow.now())
    return case


async def assign_case(
    uow: UnitOfWork, case_id: UUID, *, assignee: str | None, staff: Actor
) -> Case | None:
    """Support gives the case to an agent, or to nobody (audited); giving it to its assignee
    changes nothing. None if there is no such case."""
    repo = _cases(uow)
    case = await repo.get(case_id)
    if case is None:
        return None
    before = case.assignee
    if case.assign(assignee, now=uow.now()):
        await repo.save(case)
        await uow.audit(
            actor=staff,
            action="case.assign",
            target=f"case:{case_id}",
            before={"assignee": before},
            after={"assignee": assignee},
        )
    return case


async def move_case(
    uow: UnitOfWork, case_id: UUID, *, to: CaseStatus, reason: str | None, staff: Actor
) -> Case | None:
    """Support moves the case to another status (audited); moving it where it is changes
    nothing. None if there is no such case; CaseStateError for a move the status machine
    does not allow."""
    repo = _cases(uow)
    case = await repo.get(case_id)
    if case is None:
        return None
    before = case.status
    if case.move(to, by=staff.name, now=uow.now(), reason=reason):
        await _decided(uow, repo, case)
        await uow.audit(
            actor=staff,
            action="case.move",
            target=f"case:{case_id}",
            before={"status": before},
            after={"status": to, "reason_given": reason is not None},
        )
    return case


async def rate_case(uow: UnitOfWork, case_id: UUID, *, score: int, by: str) -> Case | None:
    """The customer's satisfaction with a resolved or closed case, once (a resolved case
    closes with it). None if there is no such case; CaseRatingError otherwise."""
    repo = _cases(uow)
    case = await repo.get(case_id)
    if case is None:
        return None
    case.rate(score, by=by, now=uow.now())
    await _decided(uow, repo, case)
    return case


async def mark_sla_breaches(uow: UnitOfWork, *, batch: int = 100) -> tuple[int, list[Breach]]:
    """Mark and announce the agreements missed by now: how many cases were looked at, and
    what they missed. Each agreement of a case is marked once."""
    repo = _cases(uow)
    now = uow.now()
    claimed = await repo.claim_due(now, limit=batch)
    missed = []
    for case in claimed:
        missed += [Breach(sla, case.category) for sla in case.breaches(now)]
        await _decided(uow, repo, case)
    return len(claimed), missed


def _wrote(case: Case, *, by: str, party: Party, now: datetime) -> None:
    if party is Party.SUPPORT:
        case.support_wrote(by=by, now=now)
    else:
        case.customer_wrote(by=by, now=now)


async def _decided(uow: UnitOfWork, repo: Cases, case: Case) -> None:
    await repo.save(case)
    await _publish(uow, case)


async def _publish(uow: UnitOfWork, case: Case) -> None:
    for message in case.messages:
        await uow.publish(message, key=case.key)
    case.messages.clear()
