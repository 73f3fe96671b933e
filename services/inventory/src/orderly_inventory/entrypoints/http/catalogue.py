"""HTTP API for warehouse staff: the warehouses and the products they stock.

Who may call: warehouse staff read and add; support reads products and warehouses too,
to answer a customer's question about an item.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status
from pydantic import Field, StrictInt

from orderly_inventory import queries, use_cases
from orderly_inventory.entrypoints.http.errors import found_or_404
from orderly_inventory.entrypoints.http.params import Body, Cursor, Limit, SkuPath, WarehouseCode
from orderly_kit import pages
from orderly_kit.auth import Permission, Role
from orderly_kit.http_errors import refusal
from orderly_kit.pages import Page
from orderly_kit.service import Service

READ_CATALOGUE = Permission.of(
    "catalogue:read", Role.WAREHOUSE, Role.SUPPORT, description="products and warehouses"
)
EDIT_CATALOGUE = Permission.of("catalogue:edit", Role.WAREHOUSE, description="add warehouses")


class WarehouseCreate(Body):
    """A new warehouse; allocation takes stock from a lower priority first."""

    code: WarehouseCode
    name: str = Field(min_length=1, max_length=200)
    region: str | None = Field(default=None, min_length=1, max_length=100)
    priority: StrictInt = Field(default=100, ge=0, le=1_000_000)


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["warehouse staff"])
    database = service.database
    messaging = service.messaging

    @r.get(
        "/warehouses",
        response_model=list[queries.catalogue.WarehouseRead],
        dependencies=[Depends(READ_CATALOGUE)],
    )
    async def list_warehouses() -> list[queries.catalogue.WarehouseRead]:
        """Every warehouse, in allocation priority order."""
        async with database.sessions() as session:
            return await queries.catalogue.list_warehouses(session)

    @r.post(
        "/warehouses",
        response_model=queries.catalogue.WarehouseRead,
        status_code=status.HTTP_201_CREATED,
        responses={
            200: {
                "model": queries.catalogue.WarehouseRead,
                "description": "the same warehouse again: nothing changed",
            },
            409: refusal("a warehouse of this code exists with another name, region or priority"),
        },
        dependencies=[Depends(EDIT_CATALOGUE)],
    )
    async def add_warehouse(
        body: WarehouseCreate, response: Response
    ) -> queries.catalogue.WarehouseRead:
        """Add a warehouse (201); the same one again is a 200, another with its code a 409."""
        async with messaging.unit_of_work() as uow:
            added = await use_cases.catalogue.add_warehouse(
                uow, code=body.code, name=body.name, region=body.region, priority=body.priority
            )
        if not added:
            response.status_code = status.HTTP_200_OK
        return queries.catalogue.WarehouseRead.model_validate(body.model_dump())

    @r.get(
        "/products",
        response_model=Page[queries.catalogue.ProductRead],
        dependencies=[Depends(READ_CATALOGUE)],
    )
    async def list_products(
        limit: Limit = 100, cursor: Cursor = None
    ) -> Page[queries.catalogue.ProductRead]:
        """Products in SKU order, a page at a time."""
        after = pages.decode(cursor, str)
        async with database.sessions() as session:
            items, last = await queries.catalogue.products_page(
                session, after=after[0] if after else None, limit=limit
            )
        return Page(items=items, next=pages.next_cursor(last))

    @r.get(
        "/products/{sku}",
        response_model=queries.catalogue.ProductRead,
        responses={404: refusal("no product has this SKU")},
        dependencies=[Depends(READ_CATALOGUE)],
    )
    async def get_product(sku: SkuPath) -> queries.catalogue.ProductRead:
        """One product: name, description, unit cost, default safety stock."""
        async with database.sessions() as session:
            found = await queries.catalogue.product_of(session, sku)
        return found_or_404(found, f"no product has sku {sku!r}")

    return r
