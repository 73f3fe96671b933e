"""Read models for the HTTP API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_notification.adapters.orm import notifications


class NotificationRead(BaseModel):
    notification_id: UUID
    order_id: UUID | None
    event_type: str = Field(description="the event that caused it, e.g. OrderDispatched")
    template: str
    channel: str
    recipient: str = Field(
        description="customer:<customer id> (a customer's address is never shown), or a staff"
        " mailbox"
    )
    subject: str
    body: str
    status: str = Field(description="sent or failed")
    failure_reason: str | None
    source_message_id: str
    created_at: datetime


async def list_notifications(
    session: AsyncSession, *, order_id: UUID | None, limit: int, offset: int
) -> list[NotificationRead]:
    """Notifications, newest first, of one order or of all."""
    n = notifications.c
    query = select(notifications).order_by(n.created_at.desc(), n.notification_id.desc())
    if order_id is not None:
        query = query.where(n.order_id == order_id)
    rows = (await session.execute(query.limit(limit).offset(offset))).mappings()
    return [NotificationRead.model_validate(dict(row)) for row in rows]
