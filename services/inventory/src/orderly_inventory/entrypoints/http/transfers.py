"""HTTP API for warehouse staff and the ERP: transfers, goods receipts, returns at the dock.

Every POST is safe to retry: a transfer step taken again, or a receipt or restock
sent again under the same key, returns what was done the first time (200 instead
of 201 where the first call created something) and moves no stock twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from orderly_inventory import use_cases
from orderly_inventory.adapters.receipts import ReceiptRepository
from orderly_inventory.adapters.transfers import TransferRepository
from orderly_inventory.domain.errors import ConflictError, InvalidInputError, NotFoundError
from orderly_inventory.domain.receipts import GoodsReceipt, ReturnRestock
from orderly_inventory.domain.transfers import Transfer, TransferStatus
from orderly_inventory.entrypoints.http import pages
from orderly_kit.service import Service
from orderly_schemas.base import Sku
from orderly_schemas.inventory import RestockReturn, ReturnLine

Actor = Annotated[str, Field(min_length=1, max_length=200, description="who does it")]
WarehouseCode = Annotated[str, Field(min_length=1, max_length=64)]
Units = Annotated[StrictInt, Field(gt=0, le=1_000_000)]
Count = Annotated[StrictInt, Field(ge=0, le=1_000_000)]


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineCreate(_Request):
    sku: Sku
    quantity: Units


class TransferCreate(_Request):
    """A draft transfer of stock from one warehouse to another."""

    transfer_id: UUID = Field(
        default_factory=uuid4, description="set it to make retries of this request idempotent"
    )
    from_warehouse: WarehouseCode
    to_warehouse: WarehouseCode
    lines: list[LineCreate] = Field(min_length=1, max_length=1000)
    created_by: Actor


class TransferUpdate(_Request):
    """New warehouses or lines for a draft; the lines given replace all of its lines."""

    from_warehouse: WarehouseCode | None = None
    to_warehouse: WarehouseCode | None = None
    lines: list[LineCreate] | None = Field(default=None, min_length=1, max_length=1000)


class TransferDispatch(_Request):
    dispatched_by: Actor


class TransferCancel(_Request):
    cancelled_by: Actor


class LineCount(_Request):
    """What arrived of one SKU: whole units and damaged ones; the rest was lost on the way."""

    sku: Sku
    received: Count
    damaged: Count = 0


class TransferReceive(_Request):
    received_by: Actor
    lines: list[LineCount] = Field(min_length=1, max_length=1000)


class TransferLineRead(BaseModel):
    sku: str
    quantity: int
    received: int | None
    damaged: int | None
    lost: int | None = Field(description="the shortfall: units lost in transit")


class TransferRead(BaseModel):
    transfer_id: UUID
    status: TransferStatus
    from_warehouse: str
    to_warehouse: str
    lines: list[TransferLineRead]
    created_by: str
    created_at: datetime
    updated_at: datetime
    dispatched_by: str | None
    dispatched_at: datetime | None
    received_by: str | None
    received_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None

    @classmethod
    def of(cls, t: Transfer) -> TransferRead:
        return cls(
            transfer_id=t.transfer_id,
            status=t.status,
            from_warehouse=t.from_warehouse,
            to_warehouse=t.to_warehouse,
            lines=[
                TransferLineRead(
                    sku=ln.sku,
                    quantity=ln.quantity,
                    received=ln.received,
                    damaged=ln.damaged,
                    lost=ln.lost,
                )
                for ln in t.lines
            ],
            created_by=t.created_by,
            created_at=t.created_at,
            updated_at=t.updated_at,
            dispatched_by=t.dispatched_by,
            dispatched_at=t.dispatched_at,
            received_by=t.received_by,
            received_at=t.received_at,
            cancelled_by=t.cancelled_by,
            cancelled_at=t.cancelled_at,
        )


class TransferPage(BaseModel):
    items: list[TransferRead]
    next: str | None = Field(description="pass it as ``cursor`` for the next page; null at the end")


class GoodsReceiptCreate(_Request):
    """Goods delivered against a purchase order, as the ERP or the dock books them."""

    purchase_order: str = Field(min_length=1, max_length=64)
    receipt_id: str = Field(
        min_length=1,
        max_length=100,
        description="the delivery note or the ERP's receipt number: the same purchase order"
        " and receipt_id again receives nothing twice",
    )
    warehouse: WarehouseCode
    lines: list[LineCreate] = Field(min_length=1, max_length=1000)
    received_by: Actor


class GoodsReceiptRead(BaseModel):
    goods_receipt_id: UUID
    purchase_order: str
    receipt_id: str
    warehouse: str
    lines: list[LineCreate]
    received_by: str
    received_at: datetime
    new_products: list[str] = Field(
        description="SKUs unknown to the catalogue, added by this receipt (named after the SKU)"
    )

    @classmethod
    def of(cls, r: GoodsReceipt) -> GoodsReceiptRead:
        return cls(
            goods_receipt_id=r.goods_receipt_id,
            purchase_order=r.purchase_order,
            receipt_id=r.receipt_id,
            warehouse=r.warehouse,
            lines=[LineCreate(sku=ln.sku, quantity=ln.quantity) for ln in r.lines],
            received_by=r.received_by,
            received_at=r.received_at,
            new_products=list(r.new_products),
        )


class ReturnRestockCreate(_Request):
    """A customer's return as received at the dock: what can be sold again, what is damaged."""

    order_id: UUID
    warehouse: WarehouseCode
    lines: list[ReturnLine] = Field(min_length=1, max_length=1000)
    received_by: Actor


class ReturnRestockRead(BaseModel):
    return_id: UUID
    order_id: UUID
    warehouse: str
    lines: list[ReturnLine]
    restocked_by: str
    restocked_at: datetime

    @classmethod
    def of(cls, r: ReturnRestock) -> ReturnRestockRead:
        return cls(
            return_id=r.return_id,
            order_id=r.order_id,
            warehouse=r.warehouse,
            lines=[
                ReturnLine(sku=ln.sku, quantity=ln.quantity, condition=ln.condition.value)
                for ln in r.lines
            ],
            restocked_by=r.restocked_by,
            restocked_at=r.restocked_at,
        )


@contextmanager
def _refusals() -> Iterator[None]:
    """The domain's refusals as HTTP answers: 422 naming the field, 404, 409."""
    try:
        yield
    except InvalidInputError as e:
        detail = [{"type": "value_error", "loc": ["body", *e.loc], "msg": e.message}]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from e
    except NotFoundError as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, e.message) from e
    except ConflictError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, e.message) from e


def _cursor(transfer: Transfer) -> str:
    return pages.encode([transfer.created_at.isoformat(), str(transfer.transfer_id)])


def _after(cursor: str) -> tuple[datetime, UUID]:
    try:
        created_at, transfer_id = pages.decode(cursor, types=(str, str))
        return datetime.fromisoformat(created_at), UUID(transfer_id)
    except ValueError as e:
        detail = [
            {
                "type": "value_error",
                "loc": ["query", "cursor"],
                "msg": "not a cursor this API gave: pass the `next` of the previous page",
            }
        ]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from e


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["transfers and receipts"])
    database = service.database
    messaging = service.messaging

    @r.post("/transfers", status_code=status.HTTP_201_CREATED, response_model=TransferRead)
    async def create_transfer(body: TransferCreate, response: Response) -> TransferRead:
        """Draft a transfer between two warehouses (201; 200 if its transfer_id exists)."""
        with _refusals():
            async with messaging.unit_of_work() as uow:
                transfer, new = await use_cases.transfers.create_transfer(
                    uow,
                    transfer_id=body.transfer_id,
                    from_warehouse=body.from_warehouse,
                    to_warehouse=body.to_warehouse,
                    lines=[(ln.sku, ln.quantity) for ln in body.lines],
                    created_by=body.created_by,
                )
        if not new:
            response.status_code = status.HTTP_200_OK
        return TransferRead.of(transfer)

    @r.get("/transfers", response_model=TransferPage)
    async def list_transfers(
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        of_status: Annotated[TransferStatus | None, Query(alias="status")] = None,
        warehouse: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    ) -> TransferPage:
        """Transfers, newest first, optionally of one status or touching one warehouse."""
        after = None if cursor is None else _after(cursor)
        async with database.sessions() as session:
            found = await TransferRepository(session).page(
                limit=limit + 1, after=after, status=of_status, warehouse=warehouse
            )
        items = found[:limit]
        more = len(found) > limit
        return TransferPage(
            items=[TransferRead.of(t) for t in items], next=_cursor(items[-1]) if more else None
        )

    @r.get("/transfers/{transfer_id}", response_model=TransferRead)
    async def get_transfer(transfer_id: UUID) -> TransferRead:
        """A transfer with its lines and, once received, what arrived of each."""
        async with database.sessions() as session:
            found = await TransferRepository(session).get(transfer_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no transfer {transfer_id}")
        return TransferRead.of(found)

    @r.patch("/transfers/{transfer_id}", response_model=TransferRead)
    async def edit_transfer(transfer_id: UUID, body: TransferUpdate) -> TransferRead:
        """Change a draft's warehouses or lines (409 once dispatched or cancelled)."""
        lines = None if body.lines is None else [(ln.sku, ln.quantity) for ln in body.lines]
        with _refusals():
            async with messaging.unit_of_work() as uow:
                transfer = await use_cases.transfers.edit_transfer(
                    uow,
                    transfer_id=transfer_id,
                    from_warehouse=body.from_warehouse,
                    to_warehouse=body.to_warehouse,
                    lines=lines,
                )
        return TransferRead.of(transfer)

    @r.post("/transfers/{transfer_id}/dispatch", response_model=TransferRead)
    async def dispatch_transfer(transfer_id: UUID, body: TransferDispatch) -> TransferRead:
        """Send a draft on its way: off the source's shelf, in transit to the destination."""
        with _refusals():
            async with messaging.unit_of_work() as uow:
                transfer = await use_cases.transfers.dispatch_transfer(
                    uow, transfer_id=transfer_id, dispatched_by=body.dispatched_by
                )
        return TransferRead.of(transfer)

    @r.post("/transfers/{transfer_id}/receive", response_model=TransferRead)
    async def receive_transfer(transfer_id: UUID, body: TransferReceive) -> TransferRead:
        """Book a dispatched transfer's arrival: received and damaged units per SKU."""
        with _refusals():
            async with messaging.unit_of_work() as uow:
                transfer = await use_cases.transfers.receive_transfer(
                    uow,
                    transfer_id=transfer_id,
                    received_by=body.received_by,
                    counts=[(ln.sku, ln.received, ln.damaged) for ln in body.lines],
                )
        return TransferRead.of(transfer)

    @r.post("/transfers/{transfer_id}/cancel", response_model=TransferRead)
    async def cancel_transfer(transfer_id: UUID, body: TransferCancel) -> TransferRead:
        """Abandon a draft (409 once dispatched)."""
        with _refusals():
            async with messaging.unit_of_work() as uow:
                transfer = await use_cases.transfers.cancel_transfer(
                    uow, transfer_id=transfer_id, cancelled_by=body.cancelled_by
                )
        return TransferRead.of(transfer)

    @r.post("/goods-receipts", status_code=status.HTTP_201_CREATED, response_model=GoodsReceiptRead)
    async def receive_goods(body: GoodsReceiptCreate, response: Response) -> GoodsReceiptRead:
        """Receive goods against a purchase order (201; 200 if this receipt_id was received)."""
        with _refusals():
            async with messaging.unit_of_work() as uow:
                receipt, new = await use_cases.receiving.receive_goods(
                    uow,
                    purchase_order=body.purchase_order,
                    receipt_id=body.receipt_id,
                    warehouse=body.warehouse,
                    lines=[(ln.sku, ln.quantity) for ln in body.lines],
                    received_by=body.received_by,
                )
        if not new:
            response.status_code = status.HTTP_200_OK
        return GoodsReceiptRead.of(receipt)

    @r.get("/goods-receipts/{goods_receipt_id}", response_model=GoodsReceiptRead)
    async def get_goods_receipt(goods_receipt_id: UUID) -> GoodsReceiptRead:
        """A goods receipt: its purchase order, receipt id, lines and who received it."""
        async with database.sessions() as session:
            found = await ReceiptRepository(session).receipt(goods_receipt_id=goods_receipt_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no goods receipt {goods_receipt_id}")
        return GoodsReceiptRead.of(found)

    @r.post(
        "/returns/{return_id}/restock",
        status_code=status.HTTP_201_CREATED,
        response_model=ReturnRestockRead,
    )
    async def restock_return(
        return_id: UUID, body: ReturnRestockCreate, response: Response
    ) -> ReturnRestockRead:
        """Restock a return received at the dock (201; 200 if it was restocked already)."""
        command = RestockReturn(
            order_id=body.order_id, return_id=return_id, warehouse=body.warehouse, lines=body.lines
        )
        with _refusals():
            async with messaging.unit_of_work() as uow:
                done, new = await use_cases.receiving.restock_return(
                    uow, command, actor=body.received_by, refuse_other_goods=True
                )
        if not new:
            response.status_code = status.HTTP_200_OK
        return ReturnRestockRead.of(done)

    return r
