"""HTTP API for an order's replacements: goods shipped in place of lost or exchanged ones.

Who may call: whoever reads an order's shipment (warehouse staff and support: "where is
the replacement of my lost parcel?"). A replacement shows what was sent, why, and where
each of its parcels is, never the address it goes to.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Depends

from orderly_inventory import queries
from orderly_inventory.entrypoints.http.params import Cursor, Limit
from orderly_inventory.entrypoints.http.tracking import READ_SHIPMENTS
from orderly_kit import pages
from orderly_kit.pages import Page
from orderly_kit.service import Service


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["stock"])
    database = service.database

    @r.get(
        "/orders/{order_id}/replacements",
        response_model=Page[queries.replacements.ReplacementRead],
        dependencies=[Depends(READ_SHIPMENTS)],
    )
    async def list_replacements(
        order_id: UUID, limit: Limit = 50, cursor: Cursor = None
    ) -> Page[queries.replacements.ReplacementRead]:
        """An order's replacements, newest first: their lines, status and parcels' tracking."""
        before = pages.decode(cursor, datetime, UUID)
        async with database.sessions() as session:
            found = await queries.replacements.replacements_of(
                session,
                order_id,
                limit=limit + 1,
                before=(before[0], before[1]) if before else None,
            )
        items, following = pages.cut(found, limit, lambda x: (x.requested_at, x.replacement_id))
        return Page(items=items, next=following)

    return r
