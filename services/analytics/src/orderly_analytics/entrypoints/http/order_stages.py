"""HTTP API of the analytics service: KPIs and the read models behind them.

Who may call: the staff roles (support, warehouse, finance) and admin read the KPIs;
support reads one order's stages. Analytics holds no personal data.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, status

from orderly_analytics import queries
from orderly_kit.auth import Permission, Role
from orderly_kit.http_errors import invalid, refusal
from orderly_kit.service import Service
from orderly_schemas.base import AwareDatetime

READ_KPIS = Permission.of("analytics:read", Role.SUPPORT, Role.WAREHOUSE, Role.FINANCE)
READ_STAGES = Permission.of("analytics:order-stages", Role.SUPPORT)

Since = Annotated[
    AwareDatetime | None,
    Query(description="count orders placed at or after this time, e.g. 2026-03-01T00:00:00Z"),
]
Until = Annotated[
    AwareDatetime | None,
    Query(description="count orders placed before this time, e.g. 2026-04-01T00:00:00Z"),
]


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["analytics"])
    database = service.database

    @r.get("/kpis", response_model=queries.order_stages.KpisRead, dependencies=[Depends(READ_KPIS)])
    async def get_kpis(since: Since = None, until: Until = None) -> queries.order_stages.KpisRead:
        """Orders by status, completion rate and lead-time percentiles, by placement time."""
        if since is not None and until is not None and until <= since:
            raise invalid(
                ("query", "until"),
                f"must be later than since ({since.isoformat()})",
                until.isoformat(),
            )
        async with database.sessions() as session:
            return await queries.order_stages.order_kpis(session, since=since, until=until)

    @r.get(
        "/orders/{order_id}/stages",
        response_model=queries.order_stages.OrderStagesRead,
        responses={404: refusal("no event of the order has reached analytics yet")},
        dependencies=[Depends(READ_STAGES)],
    )
    async def get_order_stages(order_id: UUID) -> queries.order_stages.OrderStagesRead:
        """When one order reached each stage of its lifecycle, and its status."""
        async with database.sessions() as session:
            stages = await queries.order_stages.get_order_stages(session, order_id)
        if stages is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"no event of order {order_id} has reached analytics yet",
            )
        return stages

    return r
