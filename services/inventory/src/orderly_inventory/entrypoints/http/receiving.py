"""HTTP API for the dock and the ERP: goods received against purchase orders, returns restocked.

Every POST is safe to retry: a receipt or restock sent again under the same key
returns what was done the first time (200 instead of 201) and moves no stock twice.

Who may call: warehouse staff (the dock, or the ERP with a token of that role); who
received or restocked is the token's subject, on the record and its movements.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, Field

from orderly_inventory import use_cases
from orderly_inventory.adapters.receipts import ReceiptRepository
from orderly_inventory.domain.receipts import GoodsReceipt, ReturnRestock
from orderly_inventory.entrypoints.http.errors import found_or_404
from orderly_inventory.entrypoints.http.params import Body, LineCreate, WarehouseCode
from orderly_kit.auth import Caller, Permission, Role
from orderly_kit.http_errors import refusal
from orderly_kit.service import Service
from orderly_schemas.inventory import RestockReturn, ReturnLine

READ_RECEIPTS = Permission.of("receipts:read", Role.WAREHOUSE, description="goods receipts")
RECEIVE_STOCK = Permission.of(
    "receipts:book", Role.WAREHOUSE, description="receive goods, restock returns"
)


class GoodsReceiptCreate(Body):
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


class ReturnRestockCreate(Body):
    """A customer's return as received at the dock: what can be sold again, what is damaged."""

    order_id: UUID
    warehouse: WarehouseCode
    lines: list[ReturnLine] = Field(min_length=1, max_length=1000)


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


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["transfers and receipts"])
    database = service.database
    messaging = service.messaging

    @r.post(
        "/goods-receipts",
        status_code=status.HTTP_201_CREATED,
        response_model=GoodsReceiptRead,
        responses={
            200: {"model": GoodsReceiptRead, "description": "this receipt_id was received already"},
            409: refusal("this receipt_id was received with other goods or at another warehouse"),
        },
    )
    async def receive_goods(
        body: GoodsReceiptCreate,
        response: Response,
        caller: Annotated[Caller, Depends(RECEIVE_STOCK)],
    ) -> GoodsReceiptRead:
        """Receive goods against a purchase order (201; 200 if this receipt_id was received)."""
        async with messaging.unit_of_work() as uow:
            receipt, new = await use_cases.receiving.receive_goods(
                uow,
                purchase_order=body.purchase_order,
                receipt_id=body.receipt_id,
                warehouse=body.warehouse,
                lines=[(ln.sku, ln.quantity) for ln in body.lines],
                received_by=caller.actor,
            )
        if not new:
            response.status_code = status.HTTP_200_OK
        return GoodsReceiptRead.of(receipt)

    @r.get(
        "/goods-receipts/{goods_receipt_id}",
        response_model=GoodsReceiptRead,
        responses={404: refusal("no goods receipt has this id")},
        dependencies=[Depends(READ_RECEIPTS)],
    )
    async def get_goods_receipt(goods_receipt_id: UUID) -> GoodsReceiptRead:
        """A goods receipt: its purchase order, receipt id, lines and who received it."""
        async with database.sessions() as session:
            found = await ReceiptRepository(session).receipt(goods_receipt_id=goods_receipt_id)
        return GoodsReceiptRead.of(found_or_404(found, f"no goods receipt {goods_receipt_id}"))

    @r.post(
        "/returns/{return_id}/restock",
        status_code=status.HTTP_201_CREATED,
        response_model=ReturnRestockRead,
        responses={
            200: {"model": ReturnRestockRead, "description": "the return was restocked already"},
            409: refusal("the return was restocked before with other goods"),
        },
    )
    async def restock_return(
        return_id: UUID,
        body: ReturnRestockCreate,
        response: Response,
        caller: Annotated[Caller, Depends(RECEIVE_STOCK)],
    ) -> ReturnRestockRead:
        """Restock a return received at the dock (201; 200 if it was restocked already)."""
        command = RestockReturn(
            order_id=body.order_id, return_id=return_id, warehouse=body.warehouse, lines=body.lines
        )
        async with messaging.unit_of_work() as uow:
            done, new = await use_cases.receiving.restock_return(
                uow, command, actor=caller.actor, refuse_other_goods=True
            )
        if not new:
            response.status_code = status.HTTP_200_OK
        return ReturnRestockRead.of(done)

    return r
