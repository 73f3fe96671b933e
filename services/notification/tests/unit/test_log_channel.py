"""The log channel writes each message as one structured log record, the recipient's
address masked (personal data never reaches logs)."""

from __future__ import annotations

import logging

import pytest

from orderly_notification.adapters.channels import LogChannel


async def test_a_message_becomes_a_log_record_with_its_parts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="orderly_notification.channel.log")

    await LogChannel().send(recipient="ada@example.com", subject="Hello", body="Your order")

    [record] = [r for r in caplog.records if r.name == "orderly_notification.channel.log"]
    assert (record.recipient, record.subject, record.body) == (  # type: ignore[attr-defined]
        "a***@example.com",
        "Hello",
        "Your order",
    )
    assert "ada@example.com" not in caplog.text
    assert record.channel == "log"  # type: ignore[attr-defined]
