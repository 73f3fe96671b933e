"""Stores recipients and notifications (SQLAlchemy Core, inside the caller's transaction)."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.clock import Clock
from orderly_kit.db import CompiledText, compiled_once, insert_unless_exists
from orderly_kit.personal_data import Vault
from orderly_notification.adapters.orm import customer_keys, notifications, recipients
from orderly_notification.domain.notifications import Notification, Recipient
from orderly_schemas.personal import CUSTOMER_EMAIL


def _upsert_recipient() -> CompiledText:
    stmt = pg_insert(recipients).values(
        {c: bindparam(c) for c in ("order_id", "email_sealed", "customer_id")}
    )
    return compiled_once(
        stmt.on_conflict_do_update(
            index_elements=[recipients.c.order_id],
            set_={
                "email_sealed": stmt.excluded.email_sealed,
                "email": None,
                "customer_id": stmt.excluded.customer_id,
            },
        )
    )


# Built once: SQLAlchemy would compile an ON CONFLICT statement on every execution.
_UPSERT_RECIPIENT = _upsert_recipient()
_RECIPIENT_OF = (
    select(
        recipients.c.customer_id,
        recipients.c.email_sealed,
        recipients.c.email,
        customer_keys.c.key_id,
        customer_keys.c.wrapped_key,
    )
    .select_from(
        recipients.outerjoin(customer_keys, customer_keys.c.customer_id == recipients.c.customer_id)
    )
    .where(recipients.c.order_id == bindparam("order_id"))
)
_RECIPIENT_OF_CUSTOMER = (
    select(*_RECIPIENT_OF.selected_columns)
    .select_from(
        recipients.outerjoin(customer_keys, customer_keys.c.customer_id == recipients.c.customer_id)
    )
    .where(recipients.c.customer_id == bindparam("customer_id"))
    .order_by(recipients.c.created_at.desc())
    .limit(1)
)


class Notifications(Protocol):
    """What the use cases remember: each order's recipient, and each notification once."""

    async def remember_recipient(self, *, order_id: UUID, customer_id: str, email: str) -> bool:
        """Record (or correct) where the order's customer is reached, sealed under their data
        key; False (nothing kept) if the customer was erased."""
        ...

    async def recipient_of(self, order_id: UUID) -> Recipient | None:
        """Who the order's customer is and where they are reached, if known yet."""
        ...

    async def recipient_of_customer(self, customer_id: str) -> Recipient | None:
        """Where the customer is reached: the address of their latest order, if any."""
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

    __slots__ = ("clock", "session", "vault")

    def __init__(self, session: AsyncSession, *, vault: Vault, clock: Clock) -> None:
        self.session = session
        self.vault = vault
        self.clock = clock

    async def remember_recipient(self, *, order_id: UUID, customer_id: str, email: str) -> bool:
        key = await self.vault.own_key(self.session, customer_id, now=self.clock())
        if key is None:
            return False
        sealed = self.vault.seal(key, customer_id, CUSTOMER_EMAIL, email)
        await self.session.execute(
            _UPSERT_RECIPIENT,
            {"order_id": order_id, "email_sealed": sealed, "customer_id": customer_id},
        )
        return True

    async def recipient_of(self, order_id: UUID) -> Recipient | None:
        row = (await self.session.execute(_RECIPIENT_OF, {"order_id": order_id})).first()
        return self._opened(row)

    async def recipient_of_customer(self, customer_id: str) -> Recipient | None:
        found = await self.session.execute(_RECIPIENT_OF_CUSTOMER, {"customer_id": customer_id})
        return self._opened(found.first())

    def _opened(self, row: Any) -> Recipient | None:
        if row is None:
            return None
        customer_id = row.customer_id
        if row.email_sealed is None:  # confirmed before emails were sealed
            return Recipient.customer(customer_id, row.email)
        key = self.vault.key_of_row(row.key_id, row.wrapped_key)
        email = self.vault.open(key, customer_id, CUSTOMER_EMAIL, row.email_sealed)
        return Recipient.customer(customer_id, email)

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
