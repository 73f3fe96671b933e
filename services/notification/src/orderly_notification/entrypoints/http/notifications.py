"""HTTP API of the notification service: what was sent to whom, for support (and admin)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from orderly_kit.auth import Permission, Role
from orderly_kit.service import Service
from orderly_notification import queries

#: Notifications name their recipients: support reads them to answer a customer.
READ = Permission.of("notifications:read", Role.SUPPORT)

OrderFilter = Annotated[UUID | None, Query(description="only this order's notifications")]
Limit = Annotated[int, Query(ge=1, le=200, description="at most this many (1 to 200)")]
Offset = Annotated[int, Query(ge=0, description="skip this many of the newest")]


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["notifications"])
    database = service.database

    @r.get(
        "/notifications",
        response_model=list[queries.notifications.NotificationRead],
        dependencies=[Depends(READ)],
    )
    async def list_notifications(
        order_id: OrderFilter = None, limit: Limit = 50, offset: Offset = 0
    ) -> list[queries.notifications.NotificationRead]:
        """Notifications, newest first, optionally of one order."""
        async with database.sessions() as session:
            return await queries.notifications.list_notifications(
                session, order_id=order_id, limit=limit, offset=offset
            )

    return r
