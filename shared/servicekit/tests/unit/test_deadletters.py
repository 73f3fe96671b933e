"""Reading a dead letter's headers, and which letters a replay refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orderly_kit.deadletters import (
    DeadLetter,
    dead_letter_topics,
    latest_by_id,
    refusal,
)
from orderly_schemas.cloudevents import Envelope

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def letter(
    *,
    failed_at: datetime = NOW,
    envelope: bool = True,
    offset: int = 4,
    replayed: bool = False,
    error_type: str = "RuntimeError",
) -> DeadLetter:
    original = (
        Envelope(type="OrderPlaced", source="/checkout", id="m-1").to_headers() if envelope else {}
    )
    headers = {
        **original,
        "dlq_error": "RuntimeError: boom",
        "dlq_error_type": error_type,
        "dlq_attempts": "5",
        "dlq_consumer": "order",
        "dlq_original_topic": "checkout.orders.v1",
        "dlq_original_partition": "2",
        "dlq_original_offset": "17",
        "dlq_failed_at": failed_at.isoformat(),
    }
    if replayed:
        headers["orderly_replayed_from"] = "checkout.orders.v1.dlq:0:1"
    return DeadLetter(
        dlq_topic="checkout.orders.v1.dlq",
        partition=0,
        offset=offset,
        key=b"order-1",
        value=b"{}",
        raw_headers=tuple((k, v.encode()) for k, v in headers.items()),
    )


def test_a_letter_knows_its_origin_and_its_inbox_id() -> None:
    d = letter(replayed=True)

    assert d.message_id == "m-1"
    assert (d.original_topic, d.original_partition, d.original_offset) == (
        "checkout.orders.v1",
        2,
        17,
    )
    assert (d.attempts, d.consumer, d.failed_at) == (5, "order", NOW)
    assert {k for k, _ in d.original_headers} == set(Envelope(type="x", source="y").to_headers()), (
        "dlq_* and the previous replay's header are dropped"
    )


def test_a_letter_without_envelope_has_the_position_id_the_consumer_gave_it() -> None:
    d = letter(envelope=False)

    assert d.message_id == "kafka:checkout.orders.v1:2:17"
    assert "no valid CloudEvents headers" in (refusal(d, max_age=timedelta(days=1), now=NOW) or "")
    assert refusal(d, max_age=timedelta(days=1), now=NOW, force=True) is not None


def test_a_letter_older_than_the_inbox_retention_needs_force() -> None:
    old = letter(failed_at=NOW - timedelta(days=15))

    assert "inbox retention" in (refusal(old, max_age=timedelta(days=14), now=NOW) or "")
    assert refusal(old, max_age=timedelta(days=14), now=NOW, force=True) is None
    assert refusal(letter(), max_age=timedelta(days=14), now=NOW) is None


def test_a_letter_whose_card_numbers_were_removed_is_never_replayed() -> None:
    d = letter(error_type="CardNumberError")

    assert "card numbers" in (refusal(d, max_age=timedelta(days=1), now=NOW) or "")
    assert refusal(d, max_age=timedelta(days=1), now=NOW, force=True) is not None


def test_the_latest_letter_of_a_message_wins() -> None:
    first = letter(failed_at=NOW - timedelta(hours=1), offset=1)
    again = letter(failed_at=NOW, offset=9)

    assert latest_by_id([again, first]) == {"m-1": again}


def test_dead_letter_topics_of_consumed_topics() -> None:
    assert dead_letter_topics(["b.v1", "a.v1", "a.v1.dlq"]) == ["a.v1.dlq", "b.v1.dlq"]
