"""Receiving at the dock: goods received against a purchase order, and returns restocked.

Each runs inside the caller's unit of work (one transaction with the outbox) and
first takes the lock of its own record (a goods receipt's or a return's key, by
inserting it; a return's parcel row before that, if it has one), so a retried request
waits for the first and then finds it done.
Stock changes only through ``ledger.move``; stock rows are locked in (sku,
warehouse) order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from uuid import uuid4

from orderly_inventory.adapters.catalogue import CatalogueRepository
from orderly_inventory.adapters.receipts import ReceiptRepository
from orderly_inventory.adapters.returns import ReturnParcelRepository
from orderly_inventory.domain.receipts import (
    Condition,
    GoodsReceipt,
    ReturnConflictError,
    ReturnedLine,
    ReturnRestock,
    check_warehouse,
    receipt_lines,
)
from orderly_inventory.use_cases import ledger
from orderly_kit.messaging import UnitOfWork
from orderly_schemas.inventory import RestockReturn

log = logging.getLogger(__name__)


async def receive_goods(
    uow: UnitOfWork,
    *,
    purchase_order: str,
    receipt_id: str,
    warehouse: str,
    lines: Sequence[tuple[str, int]],
    received_by: str,
) -> tuple[GoodsReceipt, bool]:
    """Put goods delivered against a purchase order on the shelf, once per receipt id.

    Returns the receipt and whether it is new: the same purchase order and receipt id
    again returns the first receipt and moves nothing (other goods under it are a
    conflict). A SKU the products table does not know is accepted and added to it,
    named after the SKU (the goods are on the dock; the ERP's product import names it
    later); the receipt lists such SKUs as ``new_products``.
    """
    check_warehouse(warehouse, await CatalogueRepository(uow.session).warehouse_codes())
    now = uow.now()
    receipt = GoodsReceipt(
        goods_receipt_id=uuid4(),
        purchase_order=purchase_order,
        receipt_id=receipt_id,
        warehouse=warehouse,
        lines=receipt_lines(lines),
        received_by=received_by,
        received_at=now,
    )
    receipts = ReceiptRepository(uow.session)
    if not await receipts.add_receipt(receipt):
        first = await receipts.receipt(key=(purchase_order, receipt_id))
        assert first is not None  # receipts are never deleted
        first.check_same(receipt)
        log.info("receipt %s of %s already recorded; no-op", receipt_id, purchase_order)
        return first, False
    new_products = await receipts.add_missing_products((ln.sku for ln in receipt.lines), at=now)
    if new_products:
        log.warning("receipt %s added unknown SKUs %s to the products", receipt_id, new_products)
        await receipts.set_new_products(receipt.goods_receipt_id, new_products)
        receipt = replace(receipt, new_products=tuple(new_products))
    levels = await ledger.move(uow, receipt.movements(), at=now)
    for arrival in receipt.arrivals(levels):
        await uow.publish(arrival, key=arrival.sku)
    return receipt, True


async def restock_return(
    uow: UnitOfWork,
    command: RestockReturn,
    *,
    actor: str,
    refuse_other_goods: bool = False,
) -> tuple[ReturnRestock, bool]:
    """Put a return's resellable units on the shelf and write off the damaged ones, once.

    ReturnRestocked is published every time, so a re-sent command gets its answer
    again; stock moves only the first time (returned with True). A later command for
    the same return with other goods is answered with what was done, or refused
    (ReturnConflictError) with ``refuse_other_goods`` (a person at the dock, who can
    be told). A return that came back in a parcel booked for it (``use_cases.returns``)
    is restocked only at the parcel's warehouse and for its order (InvalidInputError
    naming the field), and its parcel is then received; a return that came back
    another way is restocked wherever it arrived. What arrived is restocked, whatever
    the return announced: the order service decides what it refunds.
    """
    check_warehouse(command.warehouse, await CatalogueRepository(uow.session).warehouse_codes())
    parcels = ReturnParcelRepository(uow.session)
    parcel = await parcels.parcel_of(command.return_id, lock=True)
    if parcel is not None:
        parcel.check_restock(order_id=command.order_id, warehouse=command.warehouse)
    asked = ReturnRestock(
        return_id=command.return_id,
        order_id=command.order_id,
        warehouse=command.warehouse,
        lines=tuple(
            ReturnedLine(ln.sku, ln.quantity, Condition(ln.condition)) for ln in command.lines
        ),
        restocked_by=actor,
        restocked_at=uow.now(),
    )
    receipts = ReceiptRepository(uow.session)
    first = await receipts.add_restock(asked)
    if first:
        await ledger.move(uow, asked.movements(), at=asked.restocked_at)
        done = asked
    else:
        found = await receipts.restock(command.return_id)
        assert found is not None  # restocks are never deleted
        done = found
        if not done.same_goods(asked):
            if refuse_other_goods:
                raise ReturnConflictError(done)
            log.warning("return %s restocked before with other goods; kept", command.return_id)
        log.info("return %s already restocked; answered again", command.return_id)
    if parcel is not None and await parcels.mark_received(command.return_id, at=uow.now()):
        log.info("return %s received in its parcel %s", command.return_id, parcel.tracking_number)
    await uow.publish(done.answer())
    return done, first
