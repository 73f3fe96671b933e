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
from orderly_order.domain.order import Order
from orderly_order.domain.returns import (
    AWAITS_COMMANDS,
    ReplacementAsked,
    Return,
    ReturnPolicy,
    ReturnStatus,
    Settling,
    return_of_charge,
    return_of_refund,
)
from orderly_schemas.base import StockLine
from orderly_schemas.inventory import (
    ReplacementRefused,
    ReplacementShipped,
    ReturnParcelBooked,
    ReturnParcelRefused,
    ReturnParcelTracked,
    ReturnRestocked,
    ShipReplacement,
)
from orderly_schemas.payment import ChargeFailed, PaymentCharged, PaymentRefunded, RefundFailed
from orderly_schemas.returns import Resolution, ReturnReason

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
    resolution: Resolution = "refund",
    replacement: Sequence[ReplacementAsked] = (),
    may_price: bool = False,
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
        resolution=resolution,
        replacement=replacement,
        may_price=may_price,
    )
    await repo.add(returned)
    await _publish(uow, repo, returned, order)
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
    order = await _order_of(repo, returned)
    if returned.approve(by=staff.name, now=uow.now(), policy=policy, order=order):
        await _decided(uow, repo, returned, order)
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
    order = await _order_of(repo, returned)
    returned.retry(uow.now(), policy, order)
    await _decided(uow, repo, returned, order)
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
        await _decided(uow, repo, returned, order)
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


async def record_replacement_charged(
    uow: UnitOfWork, event: PaymentCharged, *, policy: ReturnPolicy
) -> None:
    """An exchange's price difference was charged: its replacement is asked for."""
    await _exchange_step(
        uow,
        event.order_id,
        return_of_charge(event.charge_id),
        "PaymentCharged",
        lambda r, at: r.replacement_charged(event.charge_id, event.amount, at),
        policy,
    )


async def record_charge_failed(
    uow: UnitOfWork, event: ChargeFailed, *, policy: ReturnPolicy
) -> None:
    """An exchange's price difference could not be charged: the return becomes a refund."""
    await _exchange_step(
        uow,
        event.order_id,
        return_of_charge(event.charge_id),
        "ChargeFailed",
        lambda r, at: r.charge_failed(event.charge_id, event.reason, at),
        policy,
    )


async def record_replacement_shipped(
    uow: UnitOfWork, event: ReplacementShipped, *, policy: ReturnPolicy
) -> bool:
    """An exchange's replacement left the warehouse; False if no return asked for it."""
    carrier = event.parcels[0].carrier
    tracking = [p.tracking_number for p in event.parcels]
    return await _replacement_step(
        uow,
        event,
        lambda r, at: r.replacement_shipped(event.replacement_id, carrier, tracking, at),
        policy,
    )


async def record_replacement_refused(
    uow: UnitOfWork, event: ReplacementRefused, *, policy: ReturnPolicy
) -> bool:
    """An exchange's replacement cannot be sent: the return becomes a refund; False if no
    return asked for it."""
    return await _replacement_step(
        uow,
        event,
        lambda r, at: r.replacement_refused(event.replacement_id, event.reason, at),
        policy,
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
    awaiting = [r.order_id for r in loaded if r.status in AWAITS_COMMANDS]
    queued = await queue.still_waiting(uow.session, awaiting) if queue and awaiting else set()
    for returned in loaded:
        before = returned.status
        order = await _order_of(repo, returned) if before is ReturnStatus.REPLACING else None
        if returned.deadline_passed(now, policy, queued=returned.order_id in queued, order=order):
            RETURN_DEADLINES.labels(before.value, returned.status.value).inc()
            await _decided(uow, repo, returned, order)
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


async def _replacement_step(
    uow: UnitOfWork,
    event: ReplacementShipped | ReplacementRefused,
    act: Callable[[Return, Settling], bool],
    policy: ReturnPolicy,
) -> bool:
    """Inventory's answer about a replacement, for the return that asked for it; False if
    none did (the replacement is a claim's)."""
    return_id = await uow.repository(_in_postgres).with_replacement(event.replacement_id)
    if return_id is None:
        return False
    await _exchange_step(uow, event.order_id, return_id, event.message_type(), act, policy)
    return True


async def _exchange_step(
    uow: UnitOfWork,
    order_id: UUID,
    return_id: UUID,
    name: str,
    act: Callable[[Return, Settling], bool],
    policy: ReturnPolicy,
) -> None:
    """A step of an exchange's replacement: it may settle the return, so the order is held
    first (then the return), as when goods are received."""
    repo: Returns = uow.repository(_in_postgres)
    order = await repo.order_held(order_id)
    returned = await repo.get(return_id)
    if order is None or returned is None:
        raise LookupError(f"{name} for unknown return {return_id}")
    before = await repo.refunded_by_other_returns(returned)
    if act(returned, Settling(order, before, uow.now(), policy)):
        await _decided(uow, repo, returned, order)
    else:
        _ignored(name, returned)


async def _order_of(repo: Returns, returned: Return) -> Order:
    """The return's order as it was placed (lines, payment method, address), unlocked: an
    exchange's commands are built from it."""
    order = await repo.order_as_placed(returned.order_id)
    assert order is not None, "a return is of an order this service keeps"
    return order


async def _decided(
    uow: UnitOfWork, repo: Returns, returned: Return, order: Order | None = None
) -> None:
    await repo.save(returned)
    await _publish(uow, repo, returned, order)


async def _publish(
    uow: UnitOfWork, repo: Returns, returned: Return, order: Order | None = None
) -> None:
    for message in returned.messages:
        if isinstance(message, ShipReplacement):
            # It carries the customer's address: sealed under their data key.
            assert order is not None
            message = await repo.outgoing(order, message)
        await uow.publish(message)
    returned.messages.clear()
