"""HTTP API for warehouse staff: stock-takes (cycle counts), from opening to approval.

Who does each step is a field of the request (``opened_by``, ``counted_by``,
``approved_by``, ``cancelled_by``): there is no authentication yet (a later
issue), so the API records whom the client names. Every POST is safe to retry:
an opening or a count sent again with the same id records nothing new, and
approving or cancelling twice changes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NoReturn
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from orderly_inventory.adapters.stocktakes import StockTakeRepository, Summary
from orderly_inventory.domain.errors import (
    ConflictError,
    InvalidInputError,
    InventoryError,
    NotFoundError,
)
from orderly_inventory.domain.stocktakes import (
    Count,
    Line,
    StockTake,
    StockTakeStatus,
    UncountedPolicy,
    totals,
)
from orderly_inventory.entrypoints.http import pages
from orderly_inventory.use_cases import stocktakes
from orderly_kit.service import Service
from orderly_schemas.base import Sku

Actor = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(description="who does this (a name or staff id; there is no authentication yet)"),
]
Note = Annotated[str | None, Field(default=None, max_length=2000)]
WarehouseCode = Annotated[str, Field(min_length=1, max_length=64, description="warehouse code")]
Limit = Annotated[int, Query(ge=1, le=500, description="at most this many (1 to 500)")]
Cursor = Annotated[str | None, Query(max_length=200, description="the `next` of the previous page")]
LineFilter = Literal["counted", "uncounted", "variance", "disputed"]

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the stock-take's state or another stock-take forbids it"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no stock-take with this id"}}


class StockTakeOpen(BaseModel):
    """A count to open: a warehouse, and the SKUs to count (all of the warehouse's if none)."""

    model_config = ConfigDict(extra="forbid")

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
    opened_by: Actor
    note: Note


class CountCreate(BaseModel):
    """Units of one SKU counted on the shelves (reserved units included: they are there)."""

    model_config = ConfigDict(extra="forbid")

    count_id: UUID = Field(
        default_factory=uuid4, description="set it to make retries of this request idempotent"
    )
    sku: Sku
    quantity: StrictInt = Field(ge=0, le=1_000_000)
    counted_by: Actor


class StockTakeApprove(BaseModel):
    """Who approves, and what to do with lines nobody counted."""

    model_config = ConfigDict(extra="forbid")

    approved_by: Actor
    uncounted: UncountedPolicy = Field(
        default=UncountedPolicy.REFUSE,
        description="'refuse' (default) while any line is uncounted, or 'leave_unchanged'"
        " to keep the stock of uncounted lines as it is",
    )


class StockTakeCancel(BaseModel):
    """Who cancels, and why."""

    model_config = ConfigDict(extra="forbid")

    cancelled_by: Actor
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
    async def open_stock_take(body: StockTakeOpen) -> StockTakeRead:
        """Open a count of a warehouse; each line keeps the on hand at this moment."""
        try:
            async with messaging.unit_of_work() as uow:
                opened = await stocktakes.open_stock_take(
                    uow,
                    stock_take_id=body.stock_take_id,
                    warehouse=body.warehouse,
                    skus=body.skus,
                    opened_by=body.opened_by,
                    note=body.note,
                )
        except InventoryError as exc:
            _raise(exc, "body")
        return _read(opened)

    @r.get("", response_model=StockTakePage)
    async def list_stock_takes(
        warehouse: Annotated[str | None, Query(max_length=64)] = None,
        status_filter: Annotated[StockTakeStatus | None, Query(alias="status")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> StockTakePage:
        """Stock-takes, newest first, optionally of one warehouse or in one status."""
        before = None if cursor is None else _decode(cursor)
        async with database.sessions() as session:
            repo = StockTakeRepository(session)
            if warehouse is not None and warehouse not in await repo.warehouse_codes():
                _invalid("query", "warehouse", warehouse, f"no warehouse {warehouse!r}")
            page = await repo.page(
                warehouse=warehouse, status=status_filter, limit=limit + 1, before=before
            )
        more = len(page) > limit
        page = page[:limit]
        last = page[-1].stock_take if more else None
        return StockTakePage(
            items=[_summary(s) for s in page],
            next=None if last is None else _encode(last.opened_at, last.id),
        )

    @r.get("/{stock_take_id}", response_model=StockTakeRead, responses={**_NOT_FOUND})
    async def get_stock_take(
        stock_take_id: UUID,
        only: Annotated[
            LineFilter | None, Query(description="show only the lines that are so")
        ] = None,
    ) -> StockTakeRead:
        """A stock-take with every line's expected, counted and variance, and every count."""
        async with database.sessions() as session:
            found = await StockTakeRepository(session).get(stock_take_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stock-take {stock_take_id}")
        return _read(found, only=only)

    @r.post(
        "/{stock_take_id}/counts",
        status_code=status.HTTP_201_CREATED,
        response_model=LineRead,
        responses={**_NOT_FOUND, **_CONFLICT},
    )
    async def record_count(stock_take_id: UUID, body: CountCreate) -> LineRead:
        """Record a count (or a recount) of one SKU; returns the line as it now stands."""
        try:
            async with messaging.unit_of_work() as uow:
                line = await stocktakes.record_count(
                    uow,
                    stock_take_id=stock_take_id,
                    count_id=body.count_id,
                    sku=body.sku,
                    quantity=body.quantity,
                    counted_by=body.counted_by,
                )
        except InventoryError as exc:
            _raise(exc, "body")
        return _line(line)

    @r.post(
        "/{stock_take_id}/approve",
        response_model=StockTakeRead,
        responses={**_NOT_FOUND, **_CONFLICT},
    )
    async def approve_stock_take(stock_take_id: UUID, body: StockTakeApprove) -> StockTakeRead:
        """Apply the variances as adjustments to the stock (once); StockAdjusted per SKU."""
        try:
            async with messaging.unit_of_work() as uow:
                approved = await stocktakes.approve_stock_take(
                    uow,
                    stock_take_id=stock_take_id,
                    approved_by=body.approved_by,
                    uncounted=body.uncounted,
                )
        except InventoryError as exc:
            _raise(exc, "body")
        return _read(approved)

    @r.post(
        "/{stock_take_id}/cancel",
        response_model=StockTakeRead,
        responses={**_NOT_FOUND, **_CONFLICT},
    )
    async def cancel_stock_take(stock_take_id: UUID, body: StockTakeCancel) -> StockTakeRead:
        """Abandon an open stock-take without changing the stock."""
        try:
            async with messaging.unit_of_work() as uow:
                cancelled = await stocktakes.cancel_stock_take(
                    uow,
                    stock_take_id=stock_take_id,
                    cancelled_by=body.cancelled_by,
                    reason=body.reason,
                )
        except InventoryError as exc:
            _raise(exc, "body")
        return _read(cancelled)

    return r


def _raise(exc: InventoryError, where: str) -> NoReturn:
    """The HTTP answer to a refusal: 404, 409, or 422 naming the field like validation does."""
    if isinstance(exc, NotFoundError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, exc.message) from exc
    if isinstance(exc, InvalidInputError):
        _invalid(where, str(exc.loc[0]), exc.value, exc.message)
    if isinstance(exc, ConflictError):
        raise HTTPException(status.HTTP_409_CONFLICT, exc.message) from exc
    raise exc


def _invalid(where: str, field: str, value: object, message: str) -> NoReturn:
    raise RequestValidationError(
        [{"type": "value_error", "loc": (where, field), "msg": message, "input": value}]
    )


def _encode(opened_at: datetime, stock_take_id: UUID) -> str:
    return pages.encode([opened_at.isoformat(), str(stock_take_id)])


def _decode(cursor: str) -> tuple[datetime, UUID]:
    try:
        at, stock_take_id = pages.decode(cursor, types=(str, str))
        opened_at = datetime.fromisoformat(at)
        if opened_at.tzinfo is None:
            raise ValueError(at)
        return opened_at, UUID(stock_take_id)
    except ValueError:
        _invalid(
            "query",
            "cursor",
            cursor,
            "not a cursor this API gave out: pass the `next` of the previous page unchanged",
        )


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
