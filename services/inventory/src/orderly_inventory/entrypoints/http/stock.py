"""HTTP API for stock levels: a SKU's stock, every level, safety stock and adjustments.

Lists are paged by key: ``limit`` (1 to 500) and the ``cursor`` a page returns as
``next``. A malformed request is a 422 naming the field, an unknown warehouse or
SKU a 404 naming it, a change the stock refuses a 409 saying what to do.

Who may call: warehouse staff read and change stock; support reads it (is an item
available, and where), to answer a customer. Who adjusts or sets a safety stock is the
token's subject, recorded on the movement and in StockAdjusted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from pydantic import BaseModel, Field, StrictInt, field_validator

from orderly_inventory import queries, use_cases
from orderly_inventory.entrypoints.http.errors import found_or_404
from orderly_inventory.entrypoints.http.params import (
    UNKNOWN_WAREHOUSE,
    Body,
    Cursor,
    Limit,
    SkuPath,
    WarehouseFilter,
    WarehousePath,
    known_warehouse,
)
from orderly_inventory.formats.catalogue import MAX_UNITS
from orderly_kit import pages
from orderly_kit.audit import Actor
from orderly_kit.auth import Caller, Permission, Role
from orderly_kit.http_errors import invalid, refusal
from orderly_kit.pages import Page
from orderly_kit.service import Service

READ_STOCK = Permission.of(
    "stock:read", Role.WAREHOUSE, Role.SUPPORT, description="stock levels and availability"
)
ADJUST_STOCK = Permission.of(
    "stock:adjust", Role.WAREHOUSE, description="correct on-hand stock, set safety stock"
)
#: A level the path names that cannot be: ``use_cases.stock`` refuses it.
UNKNOWN_LEVEL = refusal(
    "no warehouse of this code, or the SKU is neither a product nor stocked there"
)

#: The tag of the routes for warehouse staff; reading a SKU's stock is tagged "stock".
STAFF: list[str | Enum] = ["warehouse staff"]


class SafetyStockUpdate(Body):
    """The safety stock of a level."""

    safety_stock: StrictInt = Field(ge=0, le=MAX_UNITS)


class AdjustmentCreate(Body):
    """A manual correction of on-hand stock by a signed number of units."""

    adjustment_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="chosen by the client (or sent as Idempotency-Key): a retry with the"
        " same id returns the first answer and adjusts nothing",
    )
    quantity: StrictInt = Field(ge=-MAX_UNITS, le=MAX_UNITS, description="units added (signed)")
    reason: str = Field(min_length=1, max_length=2000)
    reference: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("quantity")
    @classmethod
    def _not_zero(cls, quantity: int) -> int:
        if quantity == 0:
            raise ValueError("must not be 0: an adjustment adds or removes units")
        return quantity


class AdjustmentRead(BaseModel):
    """An adjustment as first made; ``on_hand`` is the on hand right after it."""

    adjustment_id: str
    sku: str
    warehouse: str
    quantity: int
    on_hand: int
    reason: str
    reference: str | None
    actor: str
    movement_id: int
    occurred_at: datetime

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, moment: datetime) -> datetime:
        return moment.astimezone(UTC)


def _adjustment_id(body: AdjustmentCreate, idempotency_key: str | None) -> str:
    """The id that makes an adjustment safe to retry: in the body or the header, not both."""
    if body.adjustment_id and idempotency_key and body.adjustment_id != idempotency_key:
        raise invalid(
            ("body", "adjustment_id"),
            "differs from the Idempotency-Key header: send one id, or the same in both",
            body.adjustment_id,
        )
    adjustment_id = body.adjustment_id or idempotency_key
    if adjustment_id is None:
        raise invalid(
            ("body", "adjustment_id"),
            "give an adjustment_id (or an Idempotency-Key header), so that a retried"
            " request is not applied twice",
        )
    return adjustment_id


def router(service: Service) -> APIRouter:
    r = APIRouter()
    database = service.database
    messaging = service.messaging

    @r.get(
        "/stock/{sku}",
        response_model=queries.stock.StockRead,
        responses={404: refusal("no stock is recorded for this SKU")},
        tags=["stock"],
        dependencies=[Depends(READ_STOCK)],
    )
    async def get_stock(sku: SkuPath) -> queries.stock.StockRead:
        """On hand, reserved and available units of a SKU, in total and per warehouse."""
        async with database.sessions() as session:
            found = await queries.stock.stock_of(session, sku)
        return found_or_404(found, f"no stock is recorded for sku {sku!r}")

    @r.get(
        "/stock",
        response_model=Page[queries.stock.LevelRead],
        responses={404: UNKNOWN_WAREHOUSE},
        tags=STAFF,
        dependencies=[Depends(READ_STOCK)],
    )
    async def list_levels(
        warehouse: WarehouseFilter = None,
        sku_prefix: Annotated[
            str | None,
            Query(max_length=64, pattern=r"^[A-Za-z0-9._-]*$", description="SKUs starting so"),
        ] = None,
        low_only: Annotated[
            bool, Query(description="only levels whose available is below the safety stock")
        ] = False,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> Page[queries.stock.LevelRead]:
        """Stock levels in (sku, warehouse) order: on hand, reserved, available, in transit,
        safety stock, low stock."""
        after = pages.decode(cursor, str, str)
        await known_warehouse(database, warehouse)
        async with database.sessions() as session:
            items, last = await queries.stock.levels_page(
                session,
                warehouse=warehouse,
                sku_prefix=sku_prefix,
                low_only=low_only,
                after=(after[0], after[1]) if after else None,
                limit=limit,
            )
        return Page(items=items, next=pages.next_cursor(last))

    @r.put(
        "/stock/{sku}/{warehouse}/safety-stock",
        response_model=queries.stock.LevelRead,
        responses={404: UNKNOWN_LEVEL},
        tags=STAFF,
    )
    async def set_safety_stock(
        sku: SkuPath,
        warehouse: WarehousePath,
        body: SafetyStockUpdate,
        caller: Annotated[Caller, Depends(ADJUST_STOCK)],
    ) -> queries.stock.LevelRead:
        """Set a level's safety stock; LowStockDetected or BackInStock at once if it crosses."""
        async with messaging.unit_of_work() as uow:
            level = await use_cases.stock.set_safety_stock(
                uow, sku=sku, warehouse=warehouse, units=body.safety_stock, actor=caller.actor
            )
        return queries.stock.LevelRead(
            sku=sku,
            warehouse=warehouse,
            on_hand=level.on_hand,
            reserved=level.reserved,
            available=level.available,
            in_transit=level.in_transit,
            safety_stock=level.safety_stock,
            low_stock=level.available < level.safety_stock,
        )

    @r.post(
        "/stock/{sku}/{warehouse}/adjustments",
        response_model=AdjustmentRead,
        status_code=status.HTTP_201_CREATED,
        responses={
            200: {
                "model": AdjustmentRead,
                "description": "a retry with the same id: the first answer",
            },
            404: UNKNOWN_LEVEL,
            409: refusal(
                "the id was used for another adjustment, or the stock would break a rule"
                " (fewer units on hand than reserved)"
            ),
        },
        tags=STAFF,
    )
    async def adjust_stock(
        sku: SkuPath,
        warehouse: WarehousePath,
        body: AdjustmentCreate,
        response: Response,
        caller: Annotated[Caller, Depends(ADJUST_STOCK)],
        idempotency_key: Annotated[
            str | None, Header(min_length=1, max_length=200, alias="Idempotency-Key")
        ] = None,
    ) -> AdjustmentRead:
        """Correct on-hand stock (201; a retry with the same id is a 200 with the first
        answer). 409 if it would leave fewer units on hand than are reserved."""
        adjustment_id = _adjustment_id(body, idempotency_key)
        async with messaging.unit_of_work() as uow:
            done = await use_cases.stock.adjust_stock(
                uow,
                adjustment_id=adjustment_id,
                sku=sku,
                warehouse=warehouse,
                quantity=body.quantity,
                reason=body.reason,
                reference=body.reference,
                actor=Actor.of(caller),
            )
        if done.replayed:
            response.status_code = status.HTTP_200_OK
        return AdjustmentRead.model_validate(done, from_attributes=True)

    return r
