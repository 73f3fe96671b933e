"""HTTP API for warehouse staff: transfers of stock between warehouses, draft to arrival.

Every POST is safe to retry: a transfer step taken again returns the transfer as
the first call left it (200 instead of 201 for a creation) and moves no stock twice.

Who may call: warehouse staff. Who creates, dispatches, receives or cancels a transfer is
the token's subject, on the transfer and its movements; a body naming anyone is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field

from orderly_inventory import use_cases
from orderly_inventory.adapters.transfers import TransferRepository
from orderly_inventory.domain.transfers import Transfer, TransferStatus
from orderly_inventory.entrypoints.http.errors import found_or_404
from orderly_inventory.entrypoints.http.params import (
    Body,
    CountedUnits,
    Cursor,
    Limit,
    LineCreate,
    NoBody,
    WarehouseCode,
    WarehouseFilter,
)
from orderly_kit import pages
from orderly_kit.audit import Actor
from orderly_kit.auth import Caller, Permission, Role
from orderly_kit.http_errors import refusal
from orderly_kit.service import Service
from orderly_schemas.base import Sku

READ_TRANSFERS = Permission.of(
    "transfers:read", Role.WAREHOUSE, description="transfers and what arrived of them"
)
MANAGE_TRANSFERS = Permission.of(
    "transfers:manage",
    Role.WAREHOUSE,
    description="draft, edit, dispatch, receive and cancel transfers",
)


class TransferCreate(Body):
    """A draft transfer of stock from one warehouse to another."""

    transfer_id: UUID = Field(
        default_factory=uuid4, description="set it to make retries of this request idempotent"
    )
    from_warehouse: WarehouseCode
    to_warehouse: WarehouseCode
    lines: list[LineCreate] = Field(min_length=1, max_length=1000)


class TransferUpdate(Body):
    """New warehouses or lines for a draft; the lines given replace all of its lines."""

    from_warehouse: WarehouseCode | None = None
    to_warehouse: WarehouseCode | None = None
    lines: list[LineCreate] | None = Field(default=None, min_length=1, max_length=1000)


class LineCount(Body):
    """What arrived of one SKU: whole units and damaged ones; the rest was lost on the way."""

    sku: Sku
    received: CountedUnits
    damaged: CountedUnits = 0


class TransferReceive(Body):
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


NO_TRANSFER = refusal("no transfer has this id")
#: What a transfer's state, or the stock, forbids (``TransferStateError``, short stock).
STATE_FORBIDS = refusal("the transfer's status, or the stock at its source, forbids this step")


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["transfers and receipts"])
    database = service.database
    messaging = service.messaging

    @r.post(
        "/transfers",
        status_code=status.HTTP_201_CREATED,
        response_model=TransferRead,
        responses={
            200: {"model": TransferRead, "description": "this transfer_id exists: as it is"},
            409: refusal("this transfer_id exists with other warehouses or lines"),
        },
    )
    async def create_transfer(
        body: TransferCreate,
        response: Response,
        caller: Annotated[Caller, Depends(MANAGE_TRANSFERS)],
    ) -> TransferRead:
        """Draft a transfer between two warehouses (201; 200 if its transfer_id exists)."""
        async with messaging.unit_of_work() as uow:
            transfer, new = await use_cases.transfers.create_transfer(
                uow,
                transfer_id=body.transfer_id,
                from_warehouse=body.from_warehouse,
                to_warehouse=body.to_warehouse,
                lines=[(ln.sku, ln.quantity) for ln in body.lines],
                created_by=caller.actor,
            )
        if not new:
            response.status_code = status.HTTP_200_OK
        return TransferRead.of(transfer)

    @r.get("/transfers", response_model=TransferPage, dependencies=[Depends(READ_TRANSFERS)])
    async def list_transfers(
        limit: Limit = 50,
        cursor: Cursor = None,
        of_status: Annotated[TransferStatus | None, Query(alias="status")] = None,
        warehouse: WarehouseFilter = None,
    ) -> TransferPage:
        """Transfers, newest first, optionally of one status or touching one warehouse."""
        after = pages.decode(cursor, datetime, UUID)
        async with database.sessions() as session:
            found = await TransferRepository(session).page(
                limit=limit + 1,
                after=(after[0], after[1]) if after else None,
                status=of_status,
                warehouse=warehouse,
            )
        items, following = pages.cut(found, limit, lambda t: (t.created_at, t.transfer_id))
        return TransferPage(items=[TransferRead.of(t) for t in items], next=following)

    @r.get(
        "/transfers/{transfer_id}",
        response_model=TransferRead,
        responses={404: NO_TRANSFER},
        dependencies=[Depends(READ_TRANSFERS)],
    )
    async def get_transfer(transfer_id: UUID) -> TransferRead:
        """A transfer with its lines and, once received, what arrived of each."""
        async with database.sessions() as session:
            found = await TransferRepository(session).get(transfer_id)
        return TransferRead.of(found_or_404(found, f"no transfer {transfer_id}"))

    @r.patch(
        "/transfers/{transfer_id}",
        response_model=TransferRead,
        responses={404: NO_TRANSFER, 409: STATE_FORBIDS},
        dependencies=[Depends(MANAGE_TRANSFERS)],
    )
    async def edit_transfer(transfer_id: UUID, body: TransferUpdate) -> TransferRead:
        """Change a draft's warehouses or lines (409 once dispatched or cancelled)."""
        lines = None if body.lines is None else [(ln.sku, ln.quantity) for ln in body.lines]
        async with messaging.unit_of_work() as uow:
            transfer = await use_cases.transfers.edit_transfer(
                uow,
                transfer_id=transfer_id,
                from_warehouse=body.from_warehouse,
                to_warehouse=body.to_warehouse,
                lines=lines,
            )
        return TransferRead.of(transfer)

    @r.post(
        "/transfers/{transfer_id}/dispatch",
        response_model=TransferRead,
        responses={404: NO_TRANSFER, 409: STATE_FORBIDS},
    )
    async def dispatch_transfer(
        transfer_id: UUID,
        caller: Annotated[Caller, Depends(MANAGE_TRANSFERS)],
        body: NoBody | None = None,
    ) -> TransferRead:
        """Send a draft on its way: off the source's shelf, in transit to the destination."""
        async with messaging.unit_of_work() as uow:
            transfer = await use_cases.transfers.dispatch_transfer(
                uow, transfer_id=transfer_id, dispatched_by=Actor.of(caller)
            )
        return TransferRead.of(transfer)

    @r.post(
        "/transfers/{transfer_id}/receive",
        response_model=TransferRead,
        responses={404: NO_TRANSFER, 409: STATE_FORBIDS},
    )
    async def receive_transfer(
        transfer_id: UUID,
        body: TransferReceive,
        caller: Annotated[Caller, Depends(MANAGE_TRANSFERS)],
    ) -> TransferRead:
        """Book a dispatched transfer's arrival: received and damaged units per SKU."""
        async with messaging.unit_of_work() as uow:
            transfer = await use_cases.transfers.receive_transfer(
                uow,
                transfer_id=transfer_id,
                received_by=Actor.of(caller),
                counts=[(ln.sku, ln.received, ln.damaged) for ln in body.lines],
            )
        return TransferRead.of(transfer)

    @r.post(
        "/transfers/{transfer_id}/cancel",
        response_model=TransferRead,
        responses={404: NO_TRANSFER, 409: STATE_FORBIDS},
    )
    async def cancel_transfer(
        transfer_id: UUID,
        caller: Annotated[Caller, Depends(MANAGE_TRANSFERS)],
        body: NoBody | None = None,
    ) -> TransferRead:
        """Abandon a draft (409 once dispatched)."""
        async with messaging.unit_of_work() as uow:
            transfer = await use_cases.transfers.cancel_transfer(
                uow, transfer_id=transfer_id, cancelled_by=Actor.of(caller)
            )
        return TransferRead.of(transfer)

    return r
