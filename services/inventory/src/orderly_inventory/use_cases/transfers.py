"""Transfers of stock between warehouses: draft, edit, dispatch, receive, cancel.

Each runs inside the caller's unit of work (one transaction with the outbox) and
first locks the transfer's row, so a retried request waits for the first and then
finds it done: every step is safe to repeat. Stock changes only through
``ledger.move``; stock rows are locked in (sku, warehouse) order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

from orderly_inventory.adapters.catalogue import CatalogueRepository
from orderly_inventory.adapters.stock import StockRepository
from orderly_inventory.adapters.transfers import TransferRepository
from orderly_inventory.domain.errors import ConflictError, NotFoundError
from orderly_inventory.domain.transfers import (
    InsufficientStockError,
    Step,
    Transfer,
    TransferStatus,
    check_same_counts,
    counted_lines,
    dispatch_movements,
    draft_lines,
    must_take,
    receive_movements,
    shortages,
)
from orderly_inventory.use_cases import ledger
from orderly_kit.audit import Actor
from orderly_kit.messaging import UnitOfWork

log = logging.getLogger(__name__)


async def create_transfer(
    uow: UnitOfWork,
    *,
    transfer_id: UUID,
    from_warehouse: str,
    to_warehouse: str,
    lines: Sequence[tuple[str, int]],
    created_by: str,
) -> tuple[Transfer, bool]:
    """A draft transfer, and whether it is new: a retry with the same id returns the first."""
    known = await CatalogueRepository(uow.session).warehouse_codes()
    now = uow.now()
    draft = Transfer(
        transfer_id=transfer_id,
        from_warehouse=from_warehouse,
        to_warehouse=to_warehouse,
        status=TransferStatus.DRAFT,
        lines=draft_lines(
            from_warehouse=from_warehouse, to_warehouse=to_warehouse, lines=lines, warehouses=known
        ),
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    transfers = TransferRepository(uow.session)
    if await transfers.add(draft):
        return draft, True
    existing = await transfers.get(transfer_id)
    assert existing is not None  # ids are never deleted
    if not existing.same_draft(draft):
        raise ConflictError(
            f"transfer {transfer_id} exists already ({existing.status}) with other warehouses"
            " or lines; give a new transfer_id for another transfer"
        )
    return existing, False


async def _locked(transfers: TransferRepository, transfer_id: UUID) -> Transfer:
    transfer = await transfers.get(transfer_id, lock=True)
    if transfer is None:
        raise NotFoundError(f"no transfer {transfer_id}")
    return transfer


async def edit_transfer(
    uow: UnitOfWork,
    *,
    transfer_id: UUID,
    from_warehouse: str | None = None,
    to_warehouse: str | None = None,
    lines: Sequence[tuple[str, int]] | None = None,
) -> Transfer:
    """Change a draft's warehouses or lines (the lines given replace them all)."""
    transfers = TransferRepository(uow.session)
    transfer = await _locked(transfers, transfer_id)
    must_take(transfer, Step.EDIT)
    source = from_warehouse or transfer.from_warehouse
    destination = to_warehouse or transfer.to_warehouse
    edited = replace(
        transfer,
        from_warehouse=source,
        to_warehouse=destination,
        lines=draft_lines(
            from_warehouse=source,
            to_warehouse=destination,
            lines=[(ln.sku, ln.quantity) for ln in transfer.lines] if lines is None else lines,
            warehouses=await CatalogueRepository(uow.session).warehouse_codes(),
        ),
        updated_at=uow.now(),
    )
    await transfers.replace_draft(edited)
    return edited


async def cancel_transfer(uow: UnitOfWork, *, transfer_id: UUID, cancelled_by: Actor) -> Transfer:
    """Abandon a draft; cancelling it again returns it unchanged. Audited."""
    transfers = TransferRepository(uow.session)
    transfer = await _locked(transfers, transfer_id)
    if not must_take(transfer, Step.CANCEL):
        return transfer
    now = uow.now()
    cancelled = replace(
        transfer,
        status=TransferStatus.CANCELLED,
        cancelled_by=cancelled_by.name,
        cancelled_at=now,
        updated_at=now,
    )
    await transfers.save_step(cancelled)
    await _audit(uow, cancelled_by, "transfer.cancel", transfer, cancelled)
    return cancelled


async def dispatch_transfer(
    uow: UnitOfWork, *, transfer_id: UUID, dispatched_by: Actor
) -> Transfer:
    """Take the lines off the source's shelf and put them in transit to the destination.

    All lines or none: if the source cannot give one from its available stock (on
    hand less reserved), InsufficientStockError names every short SKU. Dispatching
    again returns the transfer unchanged and publishes nothing. Audited.
    """
    transfers = TransferRepository(uow.session)
    transfer = await _locked(transfers, transfer_id)
    if not must_take(transfer, Step.DISPATCH):
        log.info("transfer %s already %s; dispatch is a no-op", transfer_id, transfer.status)
        return transfer
    source, destination = transfer.from_warehouse, transfer.to_warehouse
    arriving = {(ln.sku, destination) for ln in transfer.lines}
    levels = await StockRepository(uow.session).lock_levels(
        [*((ln.sku, source) for ln in transfer.lines), *arriving], create=arriving
    )
    short = shortages(transfer, {sku: lvl for (sku, w), lvl in levels.items() if w == source})
    if short:
        raise InsufficientStockError(transfer_id, short)
    now = uow.now()
    await ledger.move(uow, dispatch_movements(transfer, actor=dispatched_by.name), at=now)
    dispatched = replace(
        transfer,
        status=TransferStatus.DISPATCHED,
        dispatched_by=dispatched_by.name,
        dispatched_at=now,
        updated_at=now,
    )
    await transfers.save_step(dispatched)
    await uow.publish(dispatched.announcement(now), key=dispatched.reference)
    await _audit(uow, dispatched_by, "transfer.dispatch", transfer, dispatched)
    return dispatched


async def receive_transfer(
    uow: UnitOfWork,
    *,
    transfer_id: UUID,
    received_by: Actor,
    counts: Sequence[tuple[str, int, int]],
) -> Transfer:
    """Take a dispatched transfer out of transit with the ``(sku, received, damaged)`` counted.

    Received units go onto the destination's shelf; damaged ones and the shortfall
    (lost in transit) are written off. Receiving again with the same counts returns
    the transfer unchanged; other counts are a conflict. Audited.
    """
    transfers = TransferRepository(uow.session)
    transfer = await _locked(transfers, transfer_id)
    if not must_take(transfer, Step.RECEIVE):
        check_same_counts(transfer, counted_lines(transfer, counts))
        log.info("transfer %s already received; receipt is a no-op", transfer_id)
        return transfer
    now = uow.now()
    received = replace(
        transfer,
        lines=counted_lines(transfer, counts),
        status=TransferStatus.RECEIVED,
        received_by=received_by.name,
        received_at=now,
        updated_at=now,
    )
    levels = await ledger.move(uow, receive_movements(received, actor=received_by.name), at=now)
    await transfers.save_step(received)
    await uow.publish(received.announcement(now), key=received.reference)
    for arrival in received.arrivals(levels):
        await uow.publish(arrival, key=arrival.sku)
    await _audit(
        uow,
        received_by,
        "transfer.receive",
        transfer,
        received,
        counts={sku: [whole, damaged] for sku, whole, damaged in counts},
    )
    return received


async def _audit(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    before: Transfer,
    after: Transfer,
    **more: Any,
) -> None:
    await uow.audit(
        actor=actor,
        action=action,
        target=f"transfer:{after.transfer_id}",
        before={"status": before.status},
        after={
            "status": after.status,
            "from": after.from_warehouse,
            "to": after.to_warehouse,
            **more,
        },
    )
