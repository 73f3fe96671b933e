"""Events from the notification service."""

from __future__ import annotations

from uuid import UUID

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
    recipient: str


class NotificationFailed(NotificationEvent):
    reason: str
