"""Returns of delivered orders: requested by a customer (or support for them), approved by
the rules or by support, or rejected by support; then the rest of each return's saga,
driven by inventory's answers (the return parcel, its tracking, the inspection), the
payment service's (the refund) and the deadline job.

Each works through the ``Returns`` its unit of work hands out (``uow.repository``) and
publishes what the step caused through the outbox, in the same transaction. A request
holds the order's row, so two requests for the same units end with one return; so does a
return received, so two refunds of one order never add up to more than was captured.
Support's decisions and retries are audited (``return.approve``, ``return.reject``,
``return.retry``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from uuid import UUID, uuid4

from prometheus_client import Counter

from orderly_kit.audit import Actor
from orderly_kit.messaging import UnitOfWork
from orderly_order.adapters.command_queue import CommandsInFlight
from orderly_order.adapters.returns import ReturnRepository, Returns
from orderly_order.domain.returns import Return, ReturnPolicy, ReturnStatus, return_of_refund
from orderly_schemas.base import StockLine
from orderly_schemas.inventory import (
    ReturnParcelBooked,
    ReturnParcelRefused,
    ReturnParcelTracked,
    ReturnRestocked,
)
from orderly_schemas.payment import PaymentRefunded, RefundFailed
from orderly_schemas.returns import ReturnReason

log = logging.getLogger(__name__)

RETURN_DEADLINES = Counter(
    "orderly_return_deadlines_expired_total",
    "Return waits that ran out, by the state that waited and where the return went",
    ["status", "to"],
)


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


async def approve_return(
    uow: UnitOfWork, return_id: UUID, *, staff: Actor, policy: ReturnPolicy
) -> Return | None:
    """Support approves a requested return (audited) and its parcel is asked for; approving
    it again changes nothing. None if there is no such return; ReturnStateError if it was
    rejected."""
    repo: Returns = uow.repository(_in_postgres)
    returned = await repo.get(return_id)
    if returned is None:
        return None
    before = returned.status
    if returned.approve(by=staff.name, now=uow.now(), policy=policy):
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


async def retry_return(
    uow: UnitOfWork, return_id: UUID, *, staff: Actor, policy: ReturnPolicy
) -> Return | None:
    """Support or finance resumes a return that needs attention at the step it stopped
    (audited). None if there is no such return; ReturnStateError if it needs none."""
    repo: Returns = uow.repository(_in_postgres)
    returned = await repo.get(return_id)
    if returned is None:
        return None
    before, why = returned.status, returned.closing_reason
    returned.retry(uow.now(), policy)
    await _decided(uow, repo, returned)
    await uow.audit(
        actor=staff,
        action="return.retry",
        target=f"return:{return_id}",
        before={"status": before, "reason": why},
        after={"status": returned.status},
    )
    return returned


async def record_return_parcel_booked(
    uow: UnitOfWork, event: ReturnParcelBooked, *, policy: ReturnPolicy
) -> None:
    await _step(
        uow,
        event.return_id,
        "ReturnParcelBooked",
        lambda r: r.parcel_booked(event, uow.now(), policy),
    )


async def record_return_parcel_refused(uow: UnitOfWork, event: ReturnParcelRefused) -> None:
    await _step(
        uow,
        event.return_id,
        "ReturnParcelRefused",
        lambda r: r.parcel_refused(event.reason, uow.now()),
    )


async def record_return_parcel_tracked(
    uow: UnitOfWork, event: ReturnParcelTracked, *, policy: ReturnPolicy
) -> None:
    await _step(
        uow,
        event.return_id,
        "ReturnParcelTracked",
        lambda r: r.parcel_tracked(event.status, event.detail, uow.now(), policy),
    )


async def record_return_received(
    uow: UnitOfWork, event: ReturnRestocked, *, policy: ReturnPolicy
) -> None:
    """The warehouse inspected a return's goods: refund what qualifies.

    Holds the order first (then the return), so that the order's returns are refunded one
    at a time. A restock of a return this service does not know (goods that came back
    another way, restocked at the dock) is not ours to refund: it is logged and skipped.
    """
    repo: Returns = uow.repository(_in_postgres)
    order = await repo.order_held(event.order_id)
    returned = await repo.get(event.return_id)
    if order is None or returned is None or returned.order_id != event.order_id:
        log.info("ReturnRestocked of return %s: not a return of ours; skipped", event.return_id)
        return
    refunded_before = await repo.refunded_by_other_returns(returned)
    if returned.received_back(
        event, order=order, refunded_before=refunded_before, now=uow.now(), policy=policy
    ):
        await _decided(uow, repo, returned)
    else:
        _ignored("ReturnRestocked", returned)


async def record_return_refunded(uow: UnitOfWork, event: PaymentRefunded) -> None:
    await _step(
        uow,
        return_of_refund(event.refund_id),
        "PaymentRefunded",
        lambda r: r.refund_settled(event.refund_id, uow.now()),
    )


async def record_return_refund_failed(uow: UnitOfWork, event: RefundFailed) -> None:
    await _step(
        uow,
        return_of_refund(event.refund_id),
        "RefundFailed",
        lambda r: r.refund_failed(event.refund_id, event.reason, event.attempts, uow.now()),
    )


async def process_due_returns(
    uow: UnitOfWork,
    *,
    policy: ReturnPolicy,
    queue: CommandsInFlight | None = None,
    batch: int = 100,
) -> int:
    """Act on return waits that ran out (re-send, expire, flag); returns how many.

    With ``queue``, a return whose command or answer is still queued (by its order's
    key) waits again instead of being sent again.
    """
    now = uow.now()
    repo: Returns = uow.repository(_in_postgres)
    loaded = await repo.claim_due(now, limit=batch)
    awaiting = [
        r.order_id for r in loaded if r.status in (ReturnStatus.APPROVED, ReturnStatus.REFUNDING)
    ]
    queued = await queue.still_waiting(uow.session, awaiting) if queue and awaiting else set()
    for returned in loaded:
        before = returned.status
        if returned.deadline_passed(now, policy, queued=returned.order_id in queued):
            RETURN_DEADLINES.labels(before.value, returned.status.value).inc()
            await _decided(uow, repo, returned)
    return len(loaded)


async def _step(uow: UnitOfWork, return_id: UUID, name: str, act: Callable[[Return], bool]) -> None:
    repo: Returns = uow.repository(_in_postgres)
    returned = await repo.get(return_id)
    if returned is None:
        # Answers only exist for returns we asked about; the kit retries, then dead-letters.
        raise LookupError(f"{name} for unknown return {return_id}")
    if act(returned):
        await _decided(uow, repo, returned)
    else:
        _ignored(name, returned)


def _ignored(name: str, returned: Return) -> None:
    log.info("%s ignored: return %s is %s", name, returned.return_number, returned.status.value)


async def _decided(uow: UnitOfWork, repo: Returns, returned: Return) -> None:
    await repo.save(returned)
    await _publish(uow, returned)


async def _publish(uow: UnitOfWork, returned: Return) -> None:
    for message in returned.messages:
        await uow.publish(message)
    returned.messages.clear()
