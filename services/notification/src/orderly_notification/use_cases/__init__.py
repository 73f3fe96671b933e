"""The notification service's use cases: what to tell whom, and recording that it was."""

from orderly_notification.use_cases import notifications

__all__ = ["notifications"]
