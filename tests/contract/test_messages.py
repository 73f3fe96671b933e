"""Every message type has a realistic example that survives the wire and its JSON Schema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from orderly_schemas import BY_TYPE, MESSAGE_TYPES, Message, decode, topics
from orderly_schemas.catalogue import (
    MisplacedMessageError,
    UnknownMessageTypeError,
    message_class_on,
)

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "jsonschema"
TYPE_NAMES = [cls.message_type() for cls in MESSAGE_TYPES]


@cache
def committed_schema(message_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS_DIR / f"{message_type}.json").read_text())
    return schema


def example_of(examples: dict[str, Message], message_type: str) -> Message:
    if message_type not in examples:
        pytest.fail(f"no example of {message_type}: add a factory to tests/contract/conftest.py")
    return examples[message_type]


def test_the_factories_cover_exactly_the_message_catalogue(examples: dict[str, Message]) -> None:
    assert sorted(examples) == sorted(TYPE_NAMES)


@pytest.mark.parametrize("message_type", TYPE_NAMES)
def test_each_example_is_an_instance_of_its_own_type(
    examples: dict[str, Message], message_type: str
) -> None:
    assert type(example_of(examples, message_type)) is BY_TYPE[message_type]


@pytest.mark.parametrize("message_type", TYPE_NAMES)
def test_a_message_survives_its_own_json(examples: dict[str, Message], message_type: str) -> None:
    message = example_of(examples, message_type)

    again = type(message).model_validate_json(message.model_dump_json())

    assert again == message


@pytest.mark.parametrize("message_type", TYPE_NAMES)
def test_a_consumer_decodes_the_bytes_by_the_ce_type_header(
    examples: dict[str, Message], message_type: str
) -> None:
    message = example_of(examples, message_type)

    decoded = decode(message_type, message.model_dump_json().encode())

    assert type(decoded) is type(message)
    assert decoded == message


@pytest.mark.parametrize("message_type", TYPE_NAMES)
def test_the_json_on_the_wire_matches_the_committed_json_schema(
    examples: dict[str, Message], message_type: str
) -> None:
    schema = committed_schema(message_type)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    wire = json.loads(example_of(examples, message_type).model_dump_json())

    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(wire)
    ]

    assert errors == []


@pytest.mark.parametrize("message_type", TYPE_NAMES)
def test_the_committed_json_schema_names_the_topic_and_type(message_type: str) -> None:
    schema = committed_schema(message_type)

    assert schema["x-ce-type"] == message_type
    assert schema["x-topic"] == BY_TYPE[message_type].topic
    assert schema["x-topic"] in topics.ALL_TOPICS


def test_a_consumer_reading_the_json_ignores_fields_it_does_not_know(
    examples: dict[str, Message],
) -> None:
    # The suite's producers may add optional fields; a v1 reader must still decode their
    # messages. (OrderPlaced, taken in from outside, is closed: test_refused_input.py.)
    message = example_of(examples, "OrderConfirmed")
    wire = json.loads(message.model_dump_json()) | {"loyalty_tier": "gold"}
    wire["total"]["display"] = "32,47 €"

    assert decode("OrderConfirmed", json.dumps(wire)) == message


def test_an_unknown_ce_type_is_refused_with_the_known_types() -> None:
    with pytest.raises(UnknownMessageTypeError, match="OrderPlaced"):
        decode("OrderTeleported", b"{}")


def test_a_type_is_placed_on_its_own_topic_only() -> None:
    assert message_class_on(topics.CHECKOUT_ORDERS, "OrderPlaced") is BY_TYPE["OrderPlaced"]
    with pytest.raises(
        MisplacedMessageError,
        match=r"OrderCancelled belongs on order\.events\.v1, not on checkout\.orders\.v1",
    ):
        message_class_on(topics.CHECKOUT_ORDERS, "OrderCancelled")
    with pytest.raises(UnknownMessageTypeError, match="OrderTeleported"):
        message_class_on(topics.CHECKOUT_ORDERS, "OrderTeleported")
