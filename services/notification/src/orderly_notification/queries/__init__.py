"""The notification service's reads."""

from orderly_notification.queries import notifications

__all__ = ["notifications"]
