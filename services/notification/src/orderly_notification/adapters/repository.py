"""Stores recipients and notifications (SQLAlchemy Core, inside the caller's transaction)."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.db import CompiledText, compiled_once, insert_unless_exists
from orderly_notification.adapters.orm import notifications, recipients
from orderly_notification.domain.notifications import Notification


def _upsert_recipient() -> CompiledText:
    stmt = pg_insert(recipients).values(
        {c: bindparam(c) for c in ("order_id", "email", "customer_id")}
    )
    return compiled_once(
        stmt.on_conflict_do_update(
            index_elements=[recipients.c.order_id],
            set_={"email": stmt.excluded.email, "customer_id": stmt.excluded.customer_id},
        )
    )


# Built once: SQLAlchemy would compile an ON CONFLICT statement on every execution.
_UPSERT_RECIPIENT = _upsert_recipient()
_RECIPIENT_OF = select(recipients.c.email).where(recipients.c.order_id == bindparam("order_id"))


class Notifications(Protocol):
    """What the use cases remember: each order's recipient, and each notification once."""

    async def remember_recipient(self, *, order_id: UUID, email: str, customer_id: str) -> None:
        """Record (or correct) where the order's customer is reached."""
        ...

    async def recipient_of(self, order_id: UUID) -> str | None:
        """Where the order's customer is reached, if known yet."""
        ...

    async def add_once(self, notification: Notification) -> bool:
        """Record the notification unless one exists for its consumed message; whether it
        was recorded now."""
        ...

    async def record_failure(self, notification: Notification) -> None:
        """The channel did not deliver the notification recorded in this transaction."""
        ...


class NotificationRepository:
    """``Notifications`` in PostgreSQL, in the caller's transaction."""

    __slots__ = ("session",)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def remember_recipient(self, *, order_id: UUID, email: str, customer_id: str) -> None:
        """Record (or correct) where the order's customer is reached."""
        await self.session.execute(
            _UPSERT_RECIPIENT,
            {"order_id": order_id, "email": email, "customer_id": customer_id},
        )

    async def recipient_of(self, order_id: UUID) -> str | None:
        return await self.session.scalar(_RECIPIENT_OF, {"order_id": order_id})

    async def add_once(self, notification: Notification) -> bool:
        """Record the notification unless one exists for its consumed message; whether it
        was recorded now."""
        n = notification
        row = {
            "notification_id": n.notification_id,
            "order_id": n.order_id,
            "event_type": n.event_type,
            "template": n.template,
            "channel": n.channel,
            "recipient": n.recipient,
            "subject": n.subject,
            "body": n.body,
            "status": n.status.value,
            "failure_reason": n.failure_reason,
            "source_message_id": n.source_message_id,
            "created_at": n.created_at,
        }
        once = insert_unless_exists(
            notifications,
            tuple(row),
            conflict=("source_message_id",),
            returning=("notification_id",),
        )
        return await self.session.scalar(once, row) is not None

    async def record_failure(self, notification: Notification) -> None:
        """The channel did not deliver the notification recorded in this transaction."""
        await self.session.execute(
            update(notifications)
            .where(notifications.c.notification_id == notification.notification_id)
            .values(status=notification.status.value, failure_reason=notification.failure_reason)
        )
