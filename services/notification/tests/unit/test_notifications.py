"""A notification announces whether it went out."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from orderly_notification.domain.notifications import Notification, NotificationStatus
from orderly_schemas.notification import NotificationFailed, NotificationSent


def a_notification(status: NotificationStatus, reason: str | None = None) -> Notification:
    return Notification(
        notification_id=uuid4(),
        order_id=uuid4(),
        event_type="OrderPaid",
        template="order_paid",
        channel="log",
        recipient="ada@example.com",
        subject="Payment received",
        body="…",
        status=status,
        failure_reason=reason,
        source_message_id="m1",
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_a_sent_notification_announces_the_recipient() -> None:
    event = a_notification(NotificationStatus.SENT).outcome()

    assert isinstance(event, NotificationSent)
    assert (event.recipient, event.template, event.channel) == (
        "ada@example.com",
        "order_paid",
        "log",
    )


def test_a_failed_notification_announces_the_reason() -> None:
    event = a_notification(NotificationStatus.FAILED, "SMTPError: 421").outcome()

    assert isinstance(event, NotificationFailed)
    assert event.reason == "SMTPError: 421"
