"""Events from the notification service."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from orderly_schemas import topics
from orderly_schemas.base import AwareDatetime, Message


class NotificationEvent(Message):
    topic = topics.NOTIFICATION_EVENTS

    notification_id: UUID
    order_id: UUID | None
    channel: str
    template: str
    occurred_at: AwareDatetime


class NotificationSent(NotificationEvent):
    recipient: str = Field(
        description=(
            "who it went to: a staff mailbox as configured, or customer:<customer id> for a"
            " customer (never their address: personal data)"
        )
    )


class NotificationFailed(NotificationEvent):
    reason: str
