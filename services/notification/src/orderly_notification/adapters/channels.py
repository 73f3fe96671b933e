"""Channels deliver a rendered message to a recipient: the port and its first adapter."""

from __future__ import annotations

import logging
from typing import Protocol

from orderly_kit.personal_data import masked_email


class Channel(Protocol):
    @property
    def name(self) -> str:
        """The channel's name as recorded with each notification (``log``, ``email``…)."""
        ...

    async def send(self, *, recipient: str, subject: str, body: str) -> None:
        """Deliver the message, or raise to report that it was not delivered."""
        ...


class LogChannel:
    """Writes each message as a structured log record: the channel of development and tests."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("orderly_notification.channel.log")

    async def send(self, *, recipient: str, subject: str, body: str) -> None:
        # The address is personal data: logs show it masked (j***@example.com).
        shown = masked_email(recipient)
        self._log.info(
            "notification to %s: %s",
            shown,
            subject,
            extra={"channel": self.name, "recipient": shown, "subject": subject, "body": body},
        )
