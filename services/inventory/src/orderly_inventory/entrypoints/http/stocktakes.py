"""HTTP API for warehouse staff: stock-takes (cycle counts), from opening to approval.

Who may call: warehouse staff read, open, count and cancel; approving is a permission of
its own (it changes the stock by the variances: the privileged step), held by warehouse
staff too. Who takes each step (``opened_by``, ``counted_by``, ``approved_by``,
``cancelled_by``) is the token's subject; a body naming anyone is refused.

Every POST is safe to retry: an opening or a count sent again with the same id records
nothing new, and approving or cancelling twice changes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from orderly_inventory.adapters.stocktakes import StockTakeRepository, Summary
from orderly_inventory.domain.stocktakes import (
    Count,
    Line,
    StockTake,
    StockTakeStatus,
    UncountedPolicy,
    totals,
)
from orderly_inventory.entrypoints.http.errors import found_or_404
from orderly_inventory.entrypoints.http.params import (
    Body,
    CountedUnits,
    Cursor,
    Limit,
    WarehouseCode,
    WarehouseFilter,
)
from orderly_inventory.use_cases import stocktakes
from orderly_kit import pages
from orderly_kit.audit import Actor
from orderly_kit.auth import Caller, Permission, Role
from orderly_kit.http_errors import invalid, refusal
from orderly_kit.service import Service
from orderly_schemas.base import Sku

READ_STOCK_TAKES = Permission.of(
    "stock-takes:read", Role.WAREHOUSE, description="stock-takes, their lines and counts"
)
COUNT_STOCK = Permission.of(
    "stock-takes:count", Role.WAREHOUSE, description="open a stock-take, count, cancel"
)
APPROVE_STOCK_TAKE = Permission.of(
    "stock-takes:approve", Role.WAREHOUSE, description="apply a count's variances to the stock"
)

Note = Annotated[str | None, Field(default=None, max_length=2000)]
LineFilter = Literal["counted", "uncounted", "variance", "disputed"]

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: refusal("the stock-take's state or another stock-take forbids it")
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: refusal("no stock-take has this id")}


class StockTakeOpen(Body):
    """A count to open: a warehouse, and the SKUs to count (all of the warehouse's if none)."""

    stock_take_id: UUID = Field(
        default_factory=uuid4, description="set it to make retries of this request idempotent"
    )
    warehouse: WarehouseCode
    skus: list[Sku] | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        description="the SKUs to count; omit to count every SKU of the warehouse, and any"
        " SKU found on its shelves",
    )
    note: Note


class CountCreate(Body):
    """Units of one SKU counted on the shelves (reserved units included: they are there)."""

    count_id: UUID = Field(
        default_factory=uuid4, description="set it to make retries of this request idempotent"
    )
    sku: Sku
    quantity: CountedUnits


class StockTakeApprove(Body):
    """What to do with lines nobody counted."""

    uncounted: UncountedPolicy = Field(
        default=UncountedPolicy.REFUSE,
        description="'refuse' (default) while any line is uncounted, or 'leave_unchanged'"
        " to keep the stock of uncounted lines as it is",
    )


class StockTakeCancel(Body):
    """Why the stock-take is cancelled."""

    reason: Note


class CountRead(BaseModel):
    count_id: UUID
    counted_by: str
    quantity: int
    system_on_hand: int = Field(description="on hand in the system when the count was recorded")
    variance: int = Field(description="quantity - system_on_hand")
    counted_at: datetime
    current: bool = Field(description="the counter's latest count (a recount replaces it)")


class LineRead(BaseModel):
    sku: str
    on_hand_at_open: int = Field(description="on hand when the stock-take opened")
    expected: int = Field(
        description="on hand the system expected when the line was counted (at opening until"
        " it is); differs from on_hand_at_open by what moved meanwhile"
    )
    counted: int | None = Field(description="the latest count, whoever counted; null: uncounted")
    variance: int | None = Field(description="counted - expected")
    counted_by: str | None
    counted_at: datetime | None
    counters_agree: bool = Field(
        description="false when counters' current counts disagree on the variance: recount"
    )
    adjustment: int | None = Field(
        description="units approval added to on hand (negative: removed)"
    )
    counts: list[CountRead] = Field(description="every count, oldest first")


class TotalsRead(BaseModel):
    lines: int
    counted: int
    uncounted: int
    with_variance: int
    disputed: int = Field(description="lines whose counters disagree")
    units_over: int
    units_short: int
    net_variance: int


class StockTakeHeader(BaseModel):
    id: UUID
    warehouse: str
    scope: str = Field(description="all (every SKU of the warehouse) or listed")
    status: StockTakeStatus
    note: str | None
    opened_by: str
    opened_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class StockTakeRead(StockTakeHeader):
    totals: TotalsRead = Field(description="over every line, whatever the filter")
    lines: list[LineRead]


class StockTakeSummaryRead(StockTakeHeader):
    lines: int
    counted: int


class StockTakePage(BaseModel):
    items: list[StockTakeSummaryRead]
    next: str | None = Field(description="pass as `cursor` for the next page; null on the last")


def router(service: Service) -> APIRouter:
    r = APIRouter(prefix="/stock-takes", tags=["stock-takes"])
    database = service.database
    messaging = service.messaging

    @r.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=StockTakeRead,
        responses={**_CONFLICT},
    )
    async def open_stock_take(
        body: StockTakeOpen, caller: Annotated[Caller, Depends(COUNT_STOCK)]
    ) -> StockTakeRead:
        """Open a count of a warehouse; each line keeps the on hand at this moment."""
        async with messaging.unit_of_work() as uow:
            opened = await stocktakes.open_stock_take(
                uow,
                stock_take_id=body.stock_take_id,
                warehouse=body.warehouse,
                skus=body.skus,
                opened_by=caller.actor,
                note=body.note,
            )
        return _read(opened)

    @r.get("", response_model=StockTakePage, dependencies=[Depends(READ_STOCK_TAKES)])
    async def list_stock_takes(
        warehouse: WarehouseFilter = None,
        status_filter: Annotated[StockTakeStatus | None, Query(alias="status")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> StockTakePage:
        """Stock-takes, newest first, optionally of one warehouse or in one status."""
        before = pages.decode(cursor, datetime, UUID)
        async with database.sessions() as session:
            repo = StockTakeRepository(session)
            if warehouse is not None and warehouse not in await repo.warehouse_codes():
                raise invalid(("query", "warehouse"), f"no warehouse {warehouse!r}", warehouse)
            found = await repo.page(
                warehouse=warehouse,
                status=status_filter,
                limit=limit + 1,
                before=(before[0], before[1]) if before else None,
            )
        items, following = pages.cut(
            found, limit, lambda s: (s.stock_take.opened_at, s.stock_take.id)
        )
        return StockTakePage(items=[_summary(s) for s in items], next=following)

    @r.get(
        "/{stock_take_id}",
        response_model=StockTakeRead,
        responses={**_NOT_FOUND},
        dependencies=[Depends(READ_STOCK_TAKES)],
    )
    async def get_stock_take(
        stock_take_id: UUID,
        only: Annotated[
            LineFilter | None, Query(description="show only the lines that are so")
        ] = None,
    ) -> StockTakeRead:
        """A stock-take with every line's expected, counted and variance, and every count."""
        async with database.sessions() as session:
            found = await StockTakeRepository(session).get(stock_take_id)
        return _read(found_or_404(found, f"no stock-take {stock_take_id}"), only=only)

    @r.post(
        "/{stock_take_id}/counts",
        status_code=status.HTTP_201_CREATED,
        response_model=LineRead,
        responses={**_NOT_FOUND, **_CONFLICT},
    )
    async def record_count(
        stock_take_id: UUID, body: CountCreate, caller: Annotated[Caller, Depends(COUNT_STOCK)]
    ) -> LineRead:
        """Record a count (or a recount) of one SKU; returns the line as it now stands."""
        async with messaging.unit_of_work() as uow:
            line = await stocktakes.record_count(
                uow,
                stock_take_id=stock_take_id,
                count_id=body.count_id,
                sku=body.sku,
                quantity=body.quantity,
                counted_by=caller.actor,
            )
        return _line(line)

    @r.post(
        "/{stock_take_id}/approve",
        response_model=StockTakeRead,
        responses={**_NOT_FOUND, **_CONFLICT},
    )
    async def approve_stock_take(
        stock_take_id: UUID,
        caller: Annotated[Caller, Depends(APPROVE_STOCK_TAKE)],
        body: StockTakeApprove | None = None,
    ) -> StockTakeRead:
        """Apply the variances as adjustments to the stock (once); StockAdjusted per SKU."""
        async with messaging.unit_of_work() as uow:
            approved = await stocktakes.approve_stock_take(
                uow,
                stock_take_id=stock_take_id,
                approved_by=Actor.of(caller),
                uncounted=(body or StockTakeApprove()).uncounted,
            )
        return _read(approved)

    @r.post(
        "/{stock_take_id}/cancel",
        response_model=StockTakeRead,
        responses={**_NOT_FOUND, **_CONFLICT},
    )
    async def cancel_stock_take(
        stock_take_id: UUID,
        caller: Annotated[Caller, Depends(COUNT_STOCK)],
        body: StockTakeCancel | None = None,
    ) -> StockTakeRead:
        """Abandon an open stock-take without changing the stock."""
        async with messaging.unit_of_work() as uow:
            cancelled = await stocktakes.cancel_stock_take(
                uow,
                stock_take_id=stock_take_id,
                cancelled_by=caller.actor,
                reason=None if body is None else body.reason,
            )
        return _read(cancelled)

    return r


def _header(s: StockTake) -> dict[str, object]:
    return {
        "id": s.id,
        "warehouse": s.warehouse,
        "scope": s.scope.value,
        "status": s.status,
        "note": s.note,
        "opened_by": s.opened_by,
        "opened_at": s.opened_at,
        "approved_by": s.approved_by,
        "approved_at": s.approved_at,
        "cancelled_by": s.cancelled_by,
        "cancelled_at": s.cancelled_at,
        "cancel_reason": s.cancel_reason,
    }


def _summary(summary: Summary) -> StockTakeSummaryRead:
    return StockTakeSummaryRead.model_validate(
        {**_header(summary.stock_take), "lines": summary.lines, "counted": summary.counted}
    )


def _shown(line: Line, only: LineFilter | None) -> bool:
    if only == "counted":
        return line.latest is not None
    if only == "uncounted":
        return line.latest is None
    if only == "variance":
        return bool(line.variance)
    if only == "disputed":
        return line.latest is not None and not line.counters_agree
    return True


def _read(s: StockTake, *, only: LineFilter | None = None) -> StockTakeRead:
    t = totals(s.lines)
    return StockTakeRead.model_validate(
        {
            **_header(s),
            "totals": TotalsRead(**vars(t)),
            "lines": [_line(line) for line in s.lines if _shown(line, only)],
        }
    )


def _line(line: Line) -> LineRead:
    latest = line.latest
    current = {c.count_id for c in line.current_counts}
    return LineRead(
        sku=line.sku,
        on_hand_at_open=line.on_hand_at_open,
        expected=line.expected,
        counted=line.counted,
        variance=line.variance,
        counted_by=None if latest is None else latest.counted_by,
        counted_at=None if latest is None else latest.counted_at,
        counters_agree=line.counters_agree,
        adjustment=line.adjustment,
        counts=[_count(c, current=c.count_id in current) for c in line.counts],
    )


def _count(c: Count, *, current: bool) -> CountRead:
    return CountRead(
        count_id=c.count_id,
        counted_by=c.counted_by,
        quantity=c.quantity,
        system_on_hand=c.system_on_hand,
        variance=c.variance,
        counted_at=c.counted_at,
        current=current,
    )
