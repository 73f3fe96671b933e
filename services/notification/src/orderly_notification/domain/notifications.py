"""A notification sent (or not) to a customer, and the event that announces it (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from orderly_schemas.notification import NotificationFailed, NotificationSent


class NotificationStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"


class RecipientUnknownError(LookupError):
    """No address is known yet for the order's customer (OrderConfirmed has not been seen)."""


@dataclass(frozen=True)
class Notification:
    notification_id: UUID
    order_id: UUID | None
    event_type: str
    template: str
    channel: str
    recipient: str
    subject: str
    body: str
    status: NotificationStatus
    failure_reason: str | None
    source_message_id: str
    created_at: datetime

    def failed(self, reason: str) -> Notification:
        """This notification, not delivered by its channel for ``reason``."""
        return replace(self, status=NotificationStatus.FAILED, failure_reason=reason)

    def outcome(self) -> NotificationSent | NotificationFailed:
        """The event that announces whether the notification went out."""
        common = {
            "notification_id": self.notification_id,
            "order_id": self.order_id,
            "channel": self.channel,
            "template": self.template,
            "occurred_at": self.created_at,
        }
        if self.status is NotificationStatus.SENT:
            return NotificationSent(**common, recipient=self.recipient)
        return NotificationFailed(**common, reason=self.failure_reason or "sending failed")
