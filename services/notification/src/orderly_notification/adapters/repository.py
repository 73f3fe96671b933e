"""Stores recipients and notifications (SQLAlchemy Core, inside the caller's transaction)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_notification.adapters.orm import notifications, recipients
from orderly_notification.domain.notifications import Notification


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def remember_recipient(self, *, order_id: UUID, email: str, customer_id: str) -> None:
        """Record (or correct) where the order's customer is reached."""
        stmt = pg_insert(recipients).values(order_id=order_id, email=email, customer_id=customer_id)
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[recipients.c.order_id],
                set_={"email": stmt.excluded.email, "customer_id": stmt.excluded.customer_id},
            )
        )

    async def recipient_of(self, order_id: UUID) -> str | None:
        return await self.session.scalar(
            select(recipients.c.email).where(recipients.c.order_id == order_id)
        )

    async def add_once(self, notification: Notification) -> bool:
        """Record the notification unless one exists for its consumed message; whether it
        was recorded now."""
        n = notification
        stmt = (
            pg_insert(notifications)
            .values(
                notification_id=n.notification_id,
                order_id=n.order_id,
                event_type=n.event_type,
                template=n.template,
                channel=n.channel,
                recipient=n.recipient,
                subject=n.subject,
                body=n.body,
                status=n.status.value,
                failure_reason=n.failure_reason,
                source_message_id=n.source_message_id,
                created_at=n.created_at,
            )
            .on_conflict_do_nothing(index_elements=[notifications.c.source_message_id])
            .returning(notifications.c.notification_id)
        )
        return await self.session.scalar(stmt) is not None

    async def record_failure(self, notification: Notification) -> None:
        """The channel did not deliver the notification recorded in this transaction."""
        await self.session.execute(
            update(notifications)
            .where(notifications.c.notification_id == notification.notification_id)
            .values(status=notification.status.value, failure_reason=notification.failure_reason)
        )
