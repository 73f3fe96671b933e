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
class Recipient:
    """Where a message goes (``address``: None once a customer's data was erased) and how
    the notification names them (``shown_as``): a customer as ``customer:<id>``, never by
    their address, which is personal data; a staff mailbox as itself."""

    address: str | None
    shown_as: str

    @classmethod
    def customer(cls, customer_id: str, email: str | None) -> Recipient:
        return cls(address=email, shown_as=f"customer:{customer_id}")

    @classmethod
    def staff(cls, mailbox: str) -> Recipient:
        return cls(address=mailbox, shown_as=mailbox)


@dataclass(frozen=True)
class Notification:
    notification_id: UUID
    order_id: UUID | None
    event_type: str
    template: str
    channel: str
    recipient: str  # Recipient.shown_as
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
