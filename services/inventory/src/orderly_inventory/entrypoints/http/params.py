"""The parameters of the HTTP API, each type defined once: path, query and body fields.

Codes (SKUs, warehouses) are checked for their form here, so that a malformed one
is a 422 naming the field wherever it is sent; whether a warehouse exists is
checked by ``known_warehouse`` (a filter) or by the use case (a body field).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from orderly_inventory.adapters.catalogue import CatalogueRepository
from orderly_inventory.formats.catalogue import CODE_PATTERN, WarehouseCode
from orderly_kit.db import Database
from orderly_kit.http_errors import refusal
from orderly_kit.pages import Cursor, Limit
from orderly_schemas.base import Sku

__all__ = [
    "UNKNOWN_WAREHOUSE",
    "Body",
    "CountedUnits",
    "Cursor",
    "Limit",
    "LineCreate",
    "NoBody",
    "SkuFilter",
    "SkuPath",
    "Units",
    "WarehouseCode",
    "WarehouseFilter",
    "WarehousePath",
    "known_warehouse",
]

SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=CODE_PATTERN)]
WarehousePath = Annotated[str, Path(min_length=1, max_length=64, pattern=CODE_PATTERN)]
SkuFilter = Annotated[str | None, Query(min_length=1, max_length=64, pattern=CODE_PATTERN)]
WarehouseFilter = Annotated[
    str | None,
    Query(min_length=1, max_length=64, pattern=CODE_PATTERN, description="one warehouse"),
]

Units = Annotated[StrictInt, Field(gt=0, le=1_000_000)]
CountedUnits = Annotated[StrictInt, Field(ge=0, le=1_000_000)]


class Body(BaseModel):
    """A request body: unknown fields are refused, so that a misspelt one is not ignored; so is
    one naming who acts (``actor``, ``*_by``), which only the caller's token says."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class NoBody(Body):
    """A step that needs nothing more than its path: who takes it is the token's subject,
    and a body naming anyone is refused like any unknown field."""


class LineCreate(Body):
    sku: Sku
    quantity: Units


#: The refusal ``known_warehouse`` answers, for the routes that filter by warehouse.
UNKNOWN_WAREHOUSE = refusal("no warehouse has the code the warehouse filter names")


async def known_warehouse(database: Database, code: str | None) -> None:
    """A 404 naming ``code`` unless a warehouse has it; no filter (None) passes."""
    if code is None:
        return
    async with database.sessions() as session:
        if code not in await CatalogueRepository(session).warehouse_codes():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no warehouse {code!r}")
