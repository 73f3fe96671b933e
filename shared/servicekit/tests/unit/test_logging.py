"""No card number is written to a log, whatever carries it into a record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from orderly_kit.card_data import MARKER
from orderly_kit.context import current_order_id
from orderly_kit.logging import configure_logging

CARD = "4000 0566 5566 5556"
ORDER_ID = "12345678-1234-1234-1234-123456789012"  # a UUID: kept as it is

log = logging.getLogger("test.card_numbers")


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """What the service's log handler writes (to stderr in a service), as configured."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("test", level="INFO")
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    handler.setStream(written)
    yield written
    root.handlers[:], root.level = handlers, level


def lines(stderr: io.StringIO) -> list[dict[str, Any]]:
    text = stderr.getvalue()
    assert "4000" not in text.replace(" ", "").replace("-", ""), text
    return [json.loads(line) for line in text.splitlines()]


def test_a_card_number_in_the_message_or_its_arguments_is_removed(stderr: io.StringIO) -> None:
    log.info("order %s paid with %s", ORDER_ID, CARD)
    log.warning(f"token {CARD.replace(' ', '-')} refused")

    assert [line["message"] for line in lines(stderr)] == [
        f"order {ORDER_ID} paid with {MARKER}",
        f"token {MARKER} refused",
    ]


def test_a_card_number_in_an_exception_is_removed(stderr: io.StringIO) -> None:
    try:
        raise ValueError(f"invalid token {CARD!r}")
    except ValueError:
        log.exception("capture failed")

    [line] = lines(stderr)
    assert line["message"] == "capture failed"
    assert f"ValueError: invalid token '{MARKER}'" in str(line["exc_info"])


def test_extras_and_context_fields_are_scanned_too(stderr: io.StringIO) -> None:
    token = current_order_id.set(CARD)
    try:
        log.info("payment", extra={"token": CARD.replace(" ", "")}, stack_info=True)
    finally:
        current_order_id.reset(token)

    [line] = lines(stderr)
    assert (line["token"], line["order_id"]) == (MARKER, MARKER)


def test_a_record_without_card_numbers_is_unchanged(stderr: io.StringIO) -> None:
    try:
        raise RuntimeError("provider unavailable")
    except RuntimeError:
        log.exception("order %s at %s for %d", ORDER_ID, "2026-01-31T12:00:00.123456Z", 1999)

    [line] = lines(stderr)
    assert line["message"] == f"order {ORDER_ID} at 2026-01-31T12:00:00.123456Z for 1999"
    assert "RuntimeError: provider unavailable" in str(line["exc_info"])
    assert MARKER not in json.dumps(line)


def test_plain_text_logs_are_redacted_too() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("test", level="INFO", json_format=False)
    written = io.StringIO()
    root.handlers[0].setStream(written)  # type: ignore[attr-defined]
    try:
        try:
            raise ValueError(f"invalid token {CARD!r}")
        except ValueError:
            log.exception("capture of %s failed", CARD)
    finally:
        root.handlers[:], root.level = handlers, level

    text = written.getvalue()
    assert f"capture of {MARKER} failed" in text
    assert f"ValueError: invalid token '{MARKER}'" in text
    assert "4000" not in text
