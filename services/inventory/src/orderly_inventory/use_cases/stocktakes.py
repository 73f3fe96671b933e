"""Stock-take use cases: open, record a count, approve (apply the variances), cancel.

Each runs in the caller's unit of work (one transaction with the outbox) and is
safe to repeat: a repeated opening (same id) or count (same count id) returns
what the first recorded, and approving or cancelling twice changes nothing the
second time. The actor of each step (``opened_by``, ``counted_by``,
``approved_by``, ``cancelled_by``) is whoever the caller says it is: the HTTP
API passes the subject of the request's token.

How variances stay real while the warehouse keeps working is explained in
``domain.stocktakes``; the locks each step takes in ``adapters.stocktakes``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from uuid import UUID

from orderly_inventory.adapters.stocktakes import Lock, RecordedCount, StockTakeRepository
from orderly_inventory.domain.corrections import adjustment_notice
from orderly_inventory.domain.errors import ConflictError, InvalidInputError, NotFoundError
from orderly_inventory.domain.ledger import Movement, MovementKind
from orderly_inventory.domain.stocktakes import (
    VARIANCE_REASON,
    Count,
    Line,
    Scope,
    StockTake,
    StockTakeStatus,
    UncountedPolicy,
    approval_refused,
    below_reserved,
    check_no_overlap,
    name_skus,
)
from orderly_inventory.use_cases import ledger
from orderly_kit.audit import Actor
from orderly_kit.messaging import UnitOfWork

log = logging.getLogger(__name__)


async def open_stock_take(
    uow: UnitOfWork,
    *,
    stock_take_id: UUID,
    warehouse: str,
    skus: Sequence[str] | None,
    opened_by: str,
    note: str | None = None,
) -> StockTake:
    """Open a count of ``warehouse``: of every SKU it holds (``skus`` None) or of ``skus``.

    Each line keeps the on hand at this moment. Refused while another open
    stock-take of the warehouse counts any of the same SKUs.
    """
    repo = StockTakeRepository(uow.session)
    if not await repo.lock_warehouse(warehouse):
        known = ", ".join(await repo.warehouse_codes())
        raise InvalidInputError(
            ("warehouse",),
            f"no warehouse {warehouse!r}; the warehouses are: {known}",
            value=warehouse,
        )
    scope = Scope.ALL if skus is None else Scope.LISTED
    wanted = sorted(set(skus or ()))
    existing = await repo.get(stock_take_id)
    if existing is not None:
        return _same_opening(existing, warehouse=warehouse, scope=scope, skus=wanted)
    if scope is Scope.LISTED:
        unknown = sorted(set(wanted) - await repo.known_skus(wanted))
        if unknown:
            raise InvalidInputError(
                ("skus",),
                f"unknown sku(s) {name_skus(unknown)}: neither the catalogue nor any"
                " warehouse's stock knows them; check the sku codes",
                value=unknown,
            )
    check_no_overlap(warehouse, scope, wanted, await repo.open_in(warehouse))
    on_hand = await repo.on_hand(warehouse, None if scope is Scope.ALL else wanted)
    stock_take = StockTake(
        id=stock_take_id,
        warehouse=warehouse,
        scope=scope,
        status=StockTakeStatus.OPEN,
        opened_by=opened_by,
        opened_at=uow.now(),
        note=note,
        lines=tuple(
            Line(sku=sku, on_hand_at_open=on_hand.get(sku, 0))
            for sku in (sorted(on_hand) if scope is Scope.ALL else wanted)
        ),
    )
    if not await repo.add(stock_take):
        # The same id was opened at the same moment by a retry that got there first.
        existing = await repo.get(stock_take_id)
        assert existing is not None
        return _same_opening(existing, warehouse=warehouse, scope=scope, skus=wanted)
    log.info(
        "stock-take %s opened at %s by %s: %d line(s)",
        stock_take_id,
        warehouse,
        opened_by,
        len(stock_take.lines),
    )
    return stock_take


def _same_opening(
    existing: StockTake, *, warehouse: str, scope: Scope, skus: Sequence[str]
) -> StockTake:
    """A repeated opening gets the stock-take it opened; another one with that id is refused."""
    same = existing.warehouse == warehouse and existing.scope is scope
    if same and scope is Scope.LISTED:
        same = sorted(line.sku for line in existing.lines) == list(skus)
    if not same:
        raise ConflictError(
            f"stock-take {existing.id} exists already, of other skus or another warehouse"
            f" ({existing.scope.value} at {existing.warehouse!r}); open yours with a new id"
        )
    return existing


async def record_count(
    uow: UnitOfWork,
    *,
    stock_take_id: UUID,
    count_id: UUID,
    sku: str,
    quantity: int,
    counted_by: str,
) -> Line:
    """Record that ``counted_by`` counted ``quantity`` units of ``sku``; the line as it stands.

    The count keeps the on hand the ledger shows now, so that its variance
    ignores stock that moved since the stock-take opened. A counter's recount
    is a new count that replaces their earlier one as the line's current count.
    A repeated request (same ``count_id``) records nothing new.
    """
    repo = StockTakeRepository(uow.session)
    previous = await repo.recorded_count(count_id)
    if previous is not None:
        return await _same_count(repo, previous, stock_take_id, sku, quantity, counted_by)
    stock_take = await repo.get(stock_take_id, lock=Lock.SHARE, only_sku=sku)
    if stock_take is None:
        raise NotFoundError(f"no stock-take {stock_take_id}")
    if (
        stock_take.status is StockTakeStatus.OPEN
        and stock_take.scope is Scope.LISTED
        and stock_take.line(sku) is None
    ):
        # Only to name the listed SKUs in the refusal that follows.
        stock_take = await repo.get(stock_take_id) or stock_take
    if not stock_take.check_countable(sku):
        if not await repo.known_skus([sku]):
            raise InvalidInputError(
                ("sku",),
                f"unknown sku {sku!r}: neither the catalogue nor any warehouse's stock knows"
                " it; check the sku code",
                value=sku,
            )
        # Found on the shelves: a new line. Its level did not exist when the stock-take
        # opened (else the line would), so nothing of it was on hand then.
        await repo.add_line(stock_take_id, sku, on_hand_at_open=0)
        log.info("stock-take %s: sku %s found at %s", stock_take_id, sku, stock_take.warehouse)
    await repo.lock_line(stock_take_id, sku)
    system_on_hand = (await repo.on_hand(stock_take.warehouse, [sku])).get(sku, 0)
    count = Count(
        count_id=count_id,
        counted_by=counted_by,
        quantity=quantity,
        system_on_hand=system_on_hand,
        counted_at=uow.now(),
    )
    if not await repo.add_count(stock_take_id, sku, count):
        # A retry of this very request recorded it a moment ago.
        previous = await repo.recorded_count(count_id)
        assert previous is not None
        return await _same_count(repo, previous, stock_take_id, sku, quantity, counted_by)
    return await _line(repo, stock_take_id, sku)


async def _same_count(
    repo: StockTakeRepository,
    p: RecordedCount,
    stock_take_id: UUID,
    sku: str,
    quantity: int,
    counted_by: str,
) -> Line:
    """A repeated count gets the line as it stands; another count with that id is refused."""
    if (p.stock_take_id, p.sku, p.count.quantity, p.count.counted_by) != (
        stock_take_id,
        sku,
        quantity,
        counted_by,
    ):
        raise ConflictError(
            f"count {p.count.count_id} was already recorded: {p.count.quantity} unit(s) of"
            f" sku {p.sku!r} by {p.count.counted_by} in stock-take {p.stock_take_id};"
            " send a new count_id for a new count"
        )
    return await _line(repo, stock_take_id, sku)


async def _line(repo: StockTakeRepository, stock_take_id: UUID, sku: str) -> Line:
    stock_take = await repo.get(stock_take_id, only_sku=sku)
    line = None if stock_take is None else stock_take.line(sku)
    assert line is not None
    return line


async def approve_stock_take(
    uow: UnitOfWork,
    *,
    stock_take_id: UUID,
    approved_by: Actor,
    uncounted: UncountedPolicy = UncountedPolicy.REFUSE,
) -> StockTake:
    """Apply every line's variance to the stock as it is now, once; StockAdjusted per SKU.

    Each non-zero variance becomes one 'adjustment' movement (reason "stock-take
    variance", reference the stock-take id, actor ``approved_by``). Refused, with
    nothing applied, while lines are uncounted (unless ``uncounted`` says to leave
    them unchanged) or when a count would leave fewer units than are reserved.
    Approving an approved stock-take again returns it unchanged. Audited
    (``stocktake.approve``, with the variances applied).
    """
    repo = StockTakeRepository(uow.session)
    stock_take = await repo.get(stock_take_id, lock=Lock.UPDATE)
    if stock_take is None:
        raise NotFoundError(f"no stock-take {stock_take_id}")
    if not stock_take.check_approvable():
        log.info("stock-take %s was approved already; nothing to do", stock_take_id)
        return stock_take
    adjustments = stock_take.adjustments(uncounted)
    shelves = await repo.lock_shelves(stock_take.warehouse, (a.sku for a in adjustments))
    short = below_reserved(adjustments, shelves)
    if short:
        holders = await repo.holders(stock_take.warehouse, (s.sku for s in short))
        raise approval_refused(stock_take, short, holders)
    now = uow.now()
    reference = str(stock_take_id)
    movements = [
        Movement(
            sku=a.sku,
            warehouse=stock_take.warehouse,
            kind=MovementKind.ADJUSTMENT,
            quantity=abs(a.quantity_change),
            on_hand=a.quantity_change,
            reason=VARIANCE_REASON,
            reference=reference,
            actor=approved_by.name,
        )
        for a in adjustments
    ]
    levels = await ledger.move(uow, movements, at=now)
    for movement, level in zip(movements, levels, strict=True):
        await uow.publish(adjustment_notice(movement, level, at=now), key=movement.sku)
    variances = {line.sku: line.variance for line in stock_take.lines if line.variance is not None}
    await repo.mark_approved(stock_take_id, by=approved_by.name, at=now, adjustments=variances)
    await uow.audit(
        actor=approved_by,
        action="stocktake.approve",
        target=f"stocktake:{stock_take_id}",
        before={"status": "open"},
        after={"status": "approved", "warehouse": stock_take.warehouse, "variances": variances},
    )
    log.info(
        "stock-take %s approved by %s: %d sku(s) adjusted",
        stock_take_id,
        approved_by.name,
        len(adjustments),
    )
    approved = await repo.get(stock_take_id)
    assert approved is not None
    return approved


async def cancel_stock_take(
    uow: UnitOfWork, *, stock_take_id: UUID, cancelled_by: str, reason: str | None = None
) -> StockTake:
    """Abandon an open stock-take: the stock is not changed; cancelling twice changes nothing."""
    repo = StockTakeRepository(uow.session)
    stock_take = await repo.get(stock_take_id, lock=Lock.UPDATE)
    if stock_take is None:
        raise NotFoundError(f"no stock-take {stock_take_id}")
    if stock_take.check_cancellable():
        await repo.mark_cancelled(stock_take_id, by=cancelled_by, at=uow.now(), reason=reason)
        log.info("stock-take %s cancelled by %s", stock_take_id, cancelled_by)
    cancelled = await repo.get(stock_take_id)
    assert cancelled is not None
    return cancelled
