"""HTTP API for ERP connectors: product and opening-stock imports, the movement export.

An import is a CSV file (``text/csv``, a header row naming the columns) or a JSON
array of row objects (``application/json``). It is applied all or nothing: a 422 in
the kit's one shape lists every rejected field of every row (``loc`` ``["body", row,
field]``, row 1 being the first data row; ``msg`` the reason, ``input`` the value,
``ctx.line`` the line of a CSV file) and nothing changes.

Who may call: a connector (or a person) with a token of the warehouse role; the opening
stock's movements name the token's subject. The export reads the ledger, so it needs what
``GET /movements`` needs.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, StreamingResponse

from orderly_inventory import formats, queries, use_cases
from orderly_inventory.entrypoints.http.ledger import READ_MOVEMENTS
from orderly_inventory.entrypoints.http.params import (
    UNKNOWN_WAREHOUSE,
    SkuFilter,
    WarehouseFilter,
    known_warehouse,
)
from orderly_inventory.settings import InventorySettings
from orderly_kit.audit import Actor
from orderly_kit.auth import Caller, Permission, Role
from orderly_kit.http_errors import invalid, refusal, unprocessable
from orderly_kit.service import Service
from orderly_schemas.base import AwareDatetime

IMPORT = Permission.of(
    "imports:run", Role.WAREHOUSE, description="products and opening stock from ERP files"
)

PRODUCTS_CSV = (
    "sku,name,description,unit_cost,currency,default_safety_stock\n"
    "MUG-001,Enamel mug,Blue enamel mug 350 ml,450,EUR,20\n"
    "TEE-002,Logo tee,,,,0\n"
)
STOCK_CSV = "sku,warehouse,on_hand,safety_stock\nMUG-001,east,120,25\nMUG-001,west,40,\n"


def _body(example: str, model: type[Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": example},
                "application/json": {
                    "schema": {"type": "array", "items": model.model_json_schema()}
                },
            },
        }
    }


#: What an import may answer besides its outcome.
IMPORT_REFUSALS: dict[int | str, dict[str, Any]] = {
    413: refusal("the file is larger, or has more rows, than one import takes"),
    415: refusal("the Content-Type is not an import format: send text/csv or application/json"),
    422: {"description": "the file cannot be read, or rows are rejected (each listed)"},
}


def rejected(error: use_cases.catalogue.ImportRejectedError) -> JSONResponse:
    """The 422 of an import with rejected rows: every one of them, each where the kit's
    shape locates an error (the row, 1 being the first data row, and the field)."""
    errors = [
        {
            "type": "import_row",
            "loc": ("body", r.row, r.field),
            "msg": r.reason,
            **({} if r.value is None else {"input": r.value}),
            **({} if r.line is None else {"ctx": {"line": r.line}}),
        }
        for r in error.rejected
    ]
    # All of them: an import's rows are bounded already (INVENTORY_IMPORT_MAX_ROWS).
    return unprocessable(errors, max_errors=len(errors))


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["ERP connectors"])
    settings = service.settings
    assert isinstance(settings, InventorySettings)
    # A larger file is refused (413) by the kit before a byte of it is parsed.
    max_bytes, max_rows = settings.import_max_bytes, settings.import_max_rows
    database = service.database
    messaging = service.messaging

    async def read_file(request: Request) -> tuple[bytes, formats.catalogue.ImportFormat]:
        fmt = formats.catalogue.format_of(request.headers.get("content-type"))
        if fmt is None:
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type {request.headers.get('content-type')!r} is not an import format:"
                " send the file as text/csv or application/json",
            )
        return await request.body(), fmt

    def file_error(exc: formats.catalogue.ImportFileError) -> Exception:
        if isinstance(exc, formats.catalogue.ImportTooLargeError):
            return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc))
        return invalid(("body",), str(exc))

    @r.post(
        "/imports/products",
        response_model=use_cases.catalogue.ProductImport,
        openapi_extra=_body(PRODUCTS_CSV, formats.catalogue.ProductRow),
        responses=IMPORT_REFUSALS,
        max_body_size=max_bytes,
    )
    async def import_products(request: Request, caller: Annotated[Caller, Depends(IMPORT)]) -> Any:
        """Create or replace products from an ERP file, all or nothing."""
        data, fmt = await read_file(request)
        try:
            parsed = formats.catalogue.read_products(data, fmt, max_rows=max_rows)
            async with messaging.unit_of_work() as uow:
                done = await use_cases.catalogue.import_products(
                    uow, parsed, actor=Actor.of(caller)
                )
        except formats.catalogue.ImportFileError as exc:
            raise file_error(exc) from None
        except use_cases.catalogue.ImportRejectedError as exc:
            return rejected(exc)
        return asdict(done)

    @r.post(
        "/imports/opening-stock",
        response_model=use_cases.catalogue.StockImport,
        openapi_extra=_body(STOCK_CSV, formats.catalogue.OpeningStockRow),
        responses=IMPORT_REFUSALS,
        max_body_size=max_bytes,
    )
    async def import_opening_stock(
        request: Request,
        caller: Annotated[Caller, Depends(IMPORT)],
        reference: Annotated[
            str | None,
            Query(min_length=1, max_length=200, description="e.g. the ERP's batch number"),
        ] = None,
    ) -> Any:
        """Set opening stock (and safety stock) per SKU and warehouse, all or nothing."""
        data, fmt = await read_file(request)
        try:
            parsed = formats.catalogue.read_opening_stock(data, fmt, max_rows=max_rows)
            async with messaging.unit_of_work() as uow:
                done = await use_cases.catalogue.import_opening_stock(
                    uow, parsed, actor=Actor.of(caller), reference=reference
                )
        except formats.catalogue.ImportFileError as exc:
            raise file_error(exc) from None
        except use_cases.catalogue.ImportRejectedError as exc:
            return rejected(exc)
        return asdict(done)

    @r.get(
        "/movements/export",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {}}},
            404: UNKNOWN_WAREHOUSE,
        },
        dependencies=[Depends(READ_MOVEMENTS)],
    )
    async def export_movements(
        since: Annotated[AwareDatetime, Query(alias="from", description="inclusive")],
        until: Annotated[AwareDatetime, Query(alias="to", description="exclusive")],
        warehouse: WarehouseFilter = None,
        sku: SkuFilter = None,
        fmt: Annotated[
            formats.ledger.ExportFormat, Query(alias="format")
        ] = formats.ledger.ExportFormat.CSV,
    ) -> StreamingResponse:
        """Every movement of a period in id order, streamed as CSV (with a header) or JSON."""
        try:
            formats.ledger.check_period(since, until, max_days=settings.export_max_days)
        except formats.ledger.PeriodError as exc:
            raise invalid(("query", exc.field), str(exc), until.isoformat()) from None
        await known_warehouse(database, warehouse)
        where = queries.ledger.MovementFilter(
            sku=sku, warehouse=warehouse, since=since, until=until
        )
        name = f"movements_{_stamp(since)}_{_stamp(until)}.{fmt.value}"
        return StreamingResponse(
            formats.ledger.render(queries.ledger.stream_movements(database.engine, where), fmt),
            media_type=formats.ledger.MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return r


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S%z")
