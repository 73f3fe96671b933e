"""Returns of delivered orders: requested by a customer (or support for them), approved by
the rules or by support, or rejected by support.

Each works through the ``Returns`` its unit of work hands out (``uow.repository``) and
publishes what the decision caused through the outbox, in the same transaction. A
request holds the order's row, so two requests for the same units end with one return;
support's decisions are audited (``return.approve``, ``return.reject``).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID, uuid4

from orderly_kit.audit import Actor
from orderly_kit.messaging import UnitOfWork
from orderly_order.adapters.returns import ReturnRepository, Returns
from orderly_order.domain.returns import Return, ReturnPolicy
from orderly_schemas.base import StockLine
from orderly_schemas.returns import ReturnReason


def _in_postgres(uow: UnitOfWork) -> ReturnRepository:
    return ReturnRepository(uow.session, vault=uow.vault, clock=uow.now)


async def request_return(
    uow: UnitOfWork,
    order_id: UUID,
    *,
    lines: Sequence[StockLine],
    reason: ReturnReason,
    reason_text: str | None,
    requested_by: str,
    policy: ReturnPolicy,
) -> Return | None:
    """Request a return of delivered lines of the order; None if there is no such order.

    Raises the domain's refusals (``domain.returns``): the order not delivered, its return
    window closed, a line not of the order or more units than are left to return.
    """
    repo: Returns = uow.repository(_in_postgres)
    order = await repo.order_held(order_id)
    if order is None:
        return None
    returned = Return.request(
        order,
        return_id=uuid4(),
        return_number=await repo.next_return_number(),
        lines=lines,
        reason=reason,
        reason_text=reason_text,
        requested_by=requested_by,
        in_other_returns=await repo.units_in_returns(order_id),
        policy=policy,
        now=uow.now(),
    )
    await repo.add(returned)
    await _publish(uow, returned)
    return returned


async def approve_return(uow: UnitOfWork, return_id: UUID, *, staff: Actor) -> Return | None:
    """Support approves a requested return (audited); approving it again changes nothing.
    None if there is no such return; ReturnStateError if it was rejected."""
    repo: Returns = uow.repository(_in_postgres)
    returned = await repo.get(return_id)
    if returned is None:
        return None
    before = returned.status
    if returned.approve(by=staff.name, now=uow.now()):
        await _decided(uow, repo, returned)
        await uow.audit(
            actor=staff,
            action="return.approve",
            target=f"return:{return_id}",
            before={"status": before},
            after={"status": returned.status},
        )
    return returned


async def reject_return(
    uow: UnitOfWork, return_id: UUID, *, reason: str, staff: Actor
) -> Return | None:
    """Support rejects a requested return, saying why (audited); rejecting it again changes
    nothing. None if there is no such return; ReturnStateError if it was approved."""
    repo: Returns = uow.repository(_in_postgres)
    returned = await repo.get(return_id)
    if returned is None:
        return None
    before = returned.status
    if returned.reject(by=staff.name, reason=reason, now=uow.now()):
        await _decided(uow, repo, returned)
        await uow.audit(
            actor=staff,
            action="return.reject",
            target=f"return:{return_id}",
            before={"status": before},
            after={"status": returned.status, "reason": reason},
        )
    return returned


async def _decided(uow: UnitOfWork, repo: Returns, returned: Return) -> None:
    await repo.save(returned)
    await _publish(uow, returned)


async def _publish(uow: UnitOfWork, returned: Return) -> None:
    for message in returned.messages:
        await uow.publish(message)
    returned.messages.clear()
