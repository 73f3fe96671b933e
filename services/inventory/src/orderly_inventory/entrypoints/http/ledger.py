"""HTTP API for warehouse staff: the stock ledger, every movement with its reason.

Who may call: warehouse staff (the ledger, and its export in ``erp``, name who moved
what; support answers customers from the stock levels, not from here).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from orderly_inventory import queries
from orderly_inventory.domain.ledger import MovementKind
from orderly_inventory.entrypoints.http.params import (
    UNKNOWN_WAREHOUSE,
    Cursor,
    Limit,
    SkuFilter,
    WarehouseFilter,
    known_warehouse,
)
from orderly_kit import pages
from orderly_kit.auth import Permission, Role
from orderly_kit.http_errors import invalid
from orderly_kit.pages import Page
from orderly_kit.service import Service
from orderly_schemas.base import AwareDatetime

READ_MOVEMENTS = Permission.of(
    "movements:read", Role.WAREHOUSE, description="the stock ledger, paged or exported"
)


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["warehouse staff"])
    database = service.database

    @r.get(
        "/movements",
        response_model=Page[queries.ledger.MovementRead],
        responses={404: UNKNOWN_WAREHOUSE},
        dependencies=[Depends(READ_MOVEMENTS)],
    )
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
        after = pages.decode(cursor, int)
        if since is not None and until is not None and until <= since:
            raise invalid(("query", "to"), "must be after from", until.isoformat())
        await known_warehouse(database, warehouse)
        where = queries.ledger.MovementFilter(
            sku=sku, warehouse=warehouse, kind=kind, reference=reference, since=since, until=until
        )
        async with database.sessions() as session:
            items, last = await queries.ledger.movements_page(
                session, where, after=after[0] if after else None, limit=limit
            )
        return Page(items=items, next=pages.next_cursor(last))

    return r
