"""HTTP API for warehouse staff: warehouses, products, stock levels, safety stock,
adjustments and the ledger of movements.

Lists are paged by key: ``limit`` (1 to 500) and the ``cursor`` a page returns as
``next``. A malformed request is a 422 naming the field, an unknown warehouse or
SKU a 404 naming it, a change the stock refuses a 409 saying what to do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from orderly_inventory import queries, use_cases
from orderly_inventory.adapters.repository import InventoryRepository
from orderly_inventory.domain.errors import ConflictError, NotFoundError
from orderly_inventory.domain.ledger import MovementKind
from orderly_inventory.entrypoints.http import pages
from orderly_inventory.entrypoints.http.pages import Page
from orderly_inventory.formats.catalogue import MAX_UNITS, WarehouseCode
from orderly_kit.service import Service
from orderly_schemas.base import AwareDatetime

_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=_CODE)]
WarehousePath = Annotated[str, Path(min_length=1, max_length=64, pattern=_CODE)]
Limit = Annotated[int, Query(ge=1, le=500, description="at most this many items (1 to 500)")]
Cursor = Annotated[str | None, Query(max_length=500, description="the `next` of the previous page")]
WarehouseFilter = Annotated[
    str | None, Query(min_length=1, max_length=64, pattern=_CODE, description="one warehouse")
]
SkuFilter = Annotated[str | None, Query(min_length=1, max_length=64, pattern=_CODE)]


class WarehouseCreate(BaseModel):
    """A new warehouse; allocation takes stock from a lower priority first."""

    model_config = ConfigDict(extra="forbid")

    code: WarehouseCode
    name: str = Field(min_length=1, max_length=200)
    region: str | None = Field(default=None, min_length=1, max_length=100)
    priority: StrictInt = Field(default=100, ge=0, le=1_000_000)


class SafetyStockUpdate(BaseModel):
    """The safety stock of a level, and who sets it."""

    model_config = ConfigDict(extra="forbid")

    safety_stock: StrictInt = Field(ge=0, le=MAX_UNITS)
    actor: str = Field(min_length=1, max_length=200)


class AdjustmentCreate(BaseModel):
    """A manual correction of on-hand stock by a signed number of units."""

    model_config = ConfigDict(extra="forbid")

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
    actor: str = Field(min_length=1, max_length=200)

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


def invalid(where: str, field: str, message: str, value: Any) -> RequestValidationError:
    """A 422 in FastAPI's own shape, naming ``field`` of the request's ``where``."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, field), "msg": message, "input": value}]
    )


def _after(cursor: str | None, types: tuple[type, ...]) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        return pages.decode(cursor, types=types)
    except ValueError as exc:
        raise invalid("query", "cursor", str(exc), cursor) from None


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["warehouse staff"])
    database = service.database
    messaging = service.messaging

    async def known_warehouse(code: str | None) -> None:
        if code is None:
            return
        async with database.sessions() as session:
            if code not in await InventoryRepository(session).warehouse_codes():
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no warehouse {code!r}")

    @r.get("/warehouses", response_model=list[queries.catalogue.WarehouseRead])
    async def list_warehouses() -> list[queries.catalogue.WarehouseRead]:
        """Every warehouse, in allocation priority order."""
        async with database.sessions() as session:
            return await queries.catalogue.list_warehouses(session)

    @r.post(
        "/warehouses",
        response_model=queries.catalogue.WarehouseRead,
        status_code=status.HTTP_201_CREATED,
    )
    async def add_warehouse(
        body: WarehouseCreate, response: Response
    ) -> queries.catalogue.WarehouseRead:
        """Add a warehouse (201); the same one again is a 200, another with its code a 409."""
        try:
            async with messaging.unit_of_work() as uow:
                added = await use_cases.catalogue.add_warehouse(
                    uow,
                    code=body.code,
                    name=body.name,
                    region=body.region,
                    priority=body.priority,
                )
        except ConflictError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        if not added:
            response.status_code = status.HTTP_200_OK
        return queries.catalogue.WarehouseRead.model_validate(body.model_dump())

    @r.get("/products", response_model=Page[queries.catalogue.ProductRead])
    async def list_products(
        limit: Limit = 100, cursor: Cursor = None
    ) -> Page[queries.catalogue.ProductRead]:
        """Products in SKU order, a page at a time."""
        after = _after(cursor, (str,))
        async with database.sessions() as session:
            items, last = await queries.catalogue.products_page(
                session, after=after[0] if after else None, limit=limit
            )
        return Page(items=items, next=None if last is None else pages.encode([last]))

    @r.get("/products/{sku}", response_model=queries.catalogue.ProductRead)
    async def get_product(sku: SkuPath) -> queries.catalogue.ProductRead:
        """One product: name, description, unit cost, default safety stock."""
        async with database.sessions() as session:
            found = await queries.catalogue.product_of(session, sku)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no product has sku {sku!r}")
        return found

    @r.get("/stock", response_model=Page[queries.stock.LevelRead])
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
        after = _after(cursor, (str, str))
        await known_warehouse(warehouse)
        async with database.sessions() as session:
            items, last = await queries.stock.levels_page(
                session,
                warehouse=warehouse,
                sku_prefix=sku_prefix,
                low_only=low_only,
                after=(after[0], after[1]) if after else None,
                limit=limit,
            )
        return Page(items=items, next=None if last is None else pages.encode(list(last)))

    @r.put("/stock/{sku}/{warehouse}/safety-stock", response_model=queries.stock.LevelRead)
    async def set_safety_stock(
        sku: SkuPath, warehouse: WarehousePath, body: SafetyStockUpdate
    ) -> queries.stock.LevelRead:
        """Set a level's safety stock; LowStockDetected or BackInStock at once if it crosses."""
        try:
            async with messaging.unit_of_work() as uow:
                level = await use_cases.stock.set_safety_stock(
                    uow, sku=sku, warehouse=warehouse, units=body.safety_stock, actor=body.actor
                )
        except NotFoundError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
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
    )
    async def adjust_stock(
        sku: SkuPath,
        warehouse: WarehousePath,
        body: AdjustmentCreate,
        response: Response,
        idempotency_key: Annotated[
            str | None, Header(min_length=1, max_length=200, alias="Idempotency-Key")
        ] = None,
    ) -> AdjustmentRead:
        """Correct on-hand stock (201; a retry with the same id is a 200 with the first
        answer). 409 if it would leave fewer units on hand than are reserved."""
        if body.adjustment_id and idempotency_key and body.adjustment_id != idempotency_key:
            raise invalid(
                "body",
                "adjustment_id",
                "differs from the Idempotency-Key header: send one id, or the same in both",
                body.adjustment_id,
            )
        adjustment_id = body.adjustment_id or idempotency_key
        if adjustment_id is None:
            raise invalid(
                "body",
                "adjustment_id",
                "give an adjustment_id (or an Idempotency-Key header), so that a retried"
                " request is not applied twice",
                None,
            )
        try:
            async with messaging.unit_of_work() as uow:
                done = await use_cases.stock.adjust_stock(
                    uow,
                    adjustment_id=adjustment_id,
                    sku=sku,
                    warehouse=warehouse,
                    quantity=body.quantity,
                    reason=body.reason,
                    reference=body.reference,
                    actor=body.actor,
                )
        except NotFoundError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except ConflictError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        if done.replayed:
            response.status_code = status.HTTP_200_OK
        return AdjustmentRead.model_validate(done, from_attributes=True)

    @r.get("/movements", response_model=Page[queries.ledger.MovementRead])
    async def list_movements(
        sku: SkuFilter = None,
        warehouse: WarehouseFilter = None,
        kind: MovementKind | None = None,
        reference: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        since: Annotated[
            AwareDatetime | None, Query(alias="from", description="from this time (inclusive)")
        ] = None,
        until: Annotated[
            AwareDatetime | None, Query(alias="to", description="until this time (exclusive)")
        ] = None,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> Page[queries.ledger.MovementRead]:
        """The stock ledger, oldest first: every movement with its deltas, reason, reference
        and actor."""
        after = _after(cursor, (int,))
        if since is not None and until is not None and until <= since:
            raise invalid("query", "to", "must be after from", until.isoformat())
        await known_warehouse(warehouse)
        where = queries.ledger.MovementFilter(
            sku=sku, warehouse=warehouse, kind=kind, reference=reference, since=since, until=until
        )
        async with database.sessions() as session:
            items, last = await queries.ledger.movements_page(
                session, where, after=after[0] if after else None, limit=limit
            )
        return Page(items=items, next=None if last is None else pages.encode([last]))

    return r
