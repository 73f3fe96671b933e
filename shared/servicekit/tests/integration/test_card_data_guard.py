"""A message with a card number is dead-lettered at once, and the number is kept nowhere.

The kit's consumer guard runs on the raw message, before any attempt and before the
handler's model could quote the value in an error. FastStream's in-memory broker runs
the real subscriber and the kit's middleware against a real database, whose outbox
(the dead letter on its way to ``<topic>.dlq``) and inbox are read back.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker
from sqlalchemy import Column, Integer, String, Table, insert, select

from orderly_dev.checkout import make_order
from orderly_kit.card_data import MARKER
from orderly_kit.db import Database, new_metadata
from orderly_kit.messaging import UnitOfWork
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.service import Service, build_service
from orderly_kit.settings import ServiceSettings
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.topics import dead_letter_topic

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)
effects = Table(
    "card_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(64), nullable=False),
)

GUARDED = "test.guarded.v1"
UNGUARDED = "test.unguarded.v1"
CARD = "4000056655665556"
SPACED = "4000 0566 5566 5556"


@pytest.fixture
async def service(fresh_database: str) -> AsyncIterator[Service]:
    db = Database(fresh_database, pool_size=2)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await db.dispose()
    built = build_service(
        ServiceSettings(
            service_name="guarded",
            database_url=fresh_database,
            consumer_max_attempts=2,
            consumer_retry_backoff_ms=0,
            log_json=False,
        ),
        title="test",
        version="0",
        metadata=metadata,
        outbox=outbox,
        inbox=inbox,
        migrations_dir=Path("."),
        card_data_topics=[GUARDED],
    )
    for topic in (GUARDED, UNGUARDED):

        @built.subscriber(topic).on(OrderPlaced)
        async def on_order_placed(event: OrderPlaced, uow: UnitOfWork) -> None:
            await uow.session.execute(insert(effects).values(order_id=str(event.order_id)))

    built.consumer()  # the subscriber start() builds, for FastStream's test broker
    yield built
    await built.database.dispose()


def order_body(**changes: Any) -> dict[str, Any]:
    """An OrderPlaced as JSON, with ``changes`` at dotted paths (``payment.token``)."""
    body: dict[str, Any] = json.loads(make_order(random.Random(1)).model_dump_json())
    body["order_id"] = str(uuid.uuid4())
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = body
        for p in parents:
            node = node[p]
        node[last] = value
    return body


async def publish(
    service: Service,
    body: dict[str, Any] | bytes,
    *,
    topic: str = GUARDED,
    headers: dict[str, str] | None = None,
    key: str | None = None,
) -> str:
    """Publish ``body`` as an OrderPlaced; returns its message id."""
    value = body if isinstance(body, bytes) else json.dumps(body).encode()
    order_id = body["order_id"] if isinstance(body, dict) else str(uuid.uuid4())
    envelope = Envelope(type="OrderPlaced", source="/test", subject=order_id)
    async with TestKafkaBroker(service.broker) as broker:
        await broker.publish(
            value,
            topic=topic,
            key=(key or order_id).encode(),
            headers=envelope.to_headers() | (headers or {}),
        )
    return envelope.id


async def rows(service: Service, table: Table) -> list[dict[str, Any]]:
    async with service.database.sessions() as session:
        query = select(table).order_by(*table.primary_key.columns)
        return [dict(r._mapping) for r in await session.execute(query)]


def no_card_anywhere(*things: object) -> None:
    for thing in things:
        text = thing.decode() if isinstance(thing, bytes) else json.dumps(thing, default=str)
        assert CARD not in text.replace(" ", "").replace("-", ""), thing


async def test_a_card_number_token_is_dead_lettered_at_once_without_the_number(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    body = order_body(**{"payment.token": CARD})

    message_id = await publish(service, body)

    [letter] = await rows(service, outbox)
    assert letter["topic"] == dead_letter_topic(GUARDED)
    headers = letter["headers"]
    assert headers["dlq_error_type"] == "CardNumberError"
    assert headers["dlq_error"] == (
        "CardNumberError: field payment.token: looks like a card number;"
        " send the provider's token instead"
    )
    assert headers["dlq_attempts"] == "1"
    dead = json.loads(letter["payload"])
    assert dead["payment"]["token"] == MARKER
    # Only the offending field changed: the rest stays readable for the operator.
    assert {k: v for k, v in dead.items() if k != "payment"} == {
        k: v for k, v in body.items() if k != "payment"
    }
    [claimed] = await rows(service, inbox)
    assert (claimed["message_id"], claimed["outcome"]) == (message_id, "dead_lettered")
    assert "payment.token" in claimed["error"]
    assert await rows(service, effects) == []
    no_card_anywhere(letter, claimed, caplog.text)
    assert "payment.token" in caplog.text


async def test_every_field_is_named_and_a_number_the_schema_refuses_never_reaches_it(
    service: Service,
) -> None:
    # The spaced token fails the schema's pattern: pydantic must never see it (its
    # errors can carry the input), nor may the dead letter keep the original body.
    body = order_body(
        **{"payment.token": SPACED, "shipping_address.line2": f"card {CARD.replace('6', '6-')}"}
    )

    await publish(service, body)

    [letter] = await rows(service, outbox)
    assert letter["headers"]["dlq_error_type"] == "CardNumberError"
    assert "field shipping_address.line2" in letter["headers"]["dlq_error"]
    assert "field payment.token" in letter["headers"]["dlq_error"]
    dead = json.loads(letter["payload"])
    assert (dead["payment"]["token"], dead["shipping_address"]["line2"]) == (MARKER, MARKER)
    no_card_anywhere(letter, await rows(service, inbox))


async def test_card_numbers_in_headers_and_key_are_named_and_removed(service: Service) -> None:
    body = order_body()

    await publish(service, body, headers={"x-card": SPACED}, key=CARD)

    [letter] = await rows(service, outbox)
    assert "field headers.x-card" in letter["headers"]["dlq_error"]
    assert "field key" in letter["headers"]["dlq_error"]
    assert letter["headers"]["x-card"] == MARKER
    assert letter["message_key"] == MARKER
    assert json.loads(letter["payload"]) == body
    no_card_anywhere(letter, await rows(service, inbox))


async def test_a_body_that_is_not_json_is_scanned_as_text(service: Service) -> None:
    await publish(service, f"{{not json, card {SPACED}".encode())

    [letter] = await rows(service, outbox)
    assert "field (body)" in letter["headers"]["dlq_error"]
    assert letter["payload"] == f"{{not json, card {MARKER}".encode()
    no_card_anywhere(letter)


async def test_a_clean_message_is_handled(service: Service) -> None:
    body = order_body()

    await publish(service, body)

    assert await rows(service, outbox) == []
    assert [r["order_id"] for r in await rows(service, effects)] == [body["order_id"]]


async def test_other_dead_letters_keep_their_original_body(service: Service) -> None:
    # A topic not opted in, and a message on the guarded topic that fails for another
    # reason: both dead letters hold the body byte for byte, so a replay can fix them.
    unguarded = json.dumps(order_body(**{"payment.token": SPACED})).encode()
    invalid = json.dumps(order_body(**{"total.currency": "eur"})).encode()

    await publish(service, unguarded, topic=UNGUARDED)
    await publish(service, invalid)

    letters = await rows(service, outbox)
    assert [(r["topic"], r["payload"]) for r in letters] == [
        (dead_letter_topic(UNGUARDED), unguarded),
        (dead_letter_topic(GUARDED), invalid),
    ]
    assert "CardNumberError" not in {r["headers"]["dlq_error_type"] for r in letters}


async def test_a_body_nested_too_deep_to_walk_is_scanned_as_text(service: Service) -> None:
    deep = ("[" * 5000 + f'"{SPACED}"' + "]" * 5000).encode()

    await publish(service, deep)

    [letter] = await rows(service, outbox)
    assert "field (body)" in letter["headers"]["dlq_error"]
    no_card_anywhere(letter)
