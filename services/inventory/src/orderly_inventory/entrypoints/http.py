"""HTTP API of the inventory service: stock levels and shipments."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, status

from orderly_inventory import views
from orderly_kit.service import Service

SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["stock"])
    database = service.database

    @r.get("/stock/{sku}", response_model=views.StockRead)
    async def get_stock(sku: SkuPath) -> views.StockRead:
        """On hand, reserved and available units of a SKU, in total and per warehouse."""
        async with database.sessions() as session:
            found = await views.stock_of(session, sku)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stock is recorded for sku {sku!r}")
        return found

    @r.get("/shipments/{order_id}", response_model=views.ShipmentRead)
    async def get_shipment(order_id: UUID) -> views.ShipmentRead:
        """The shipment of an order: carrier, tracking number, status."""
        async with database.sessions() as session:
            found = await views.shipment_of(session, order_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"order {order_id} has no shipment")
        return found

    return r
