"""Messages the suite takes in from outside are closed: a field the contract does not
define, at any depth, refuses the message, naming the field and never its value.

Upstream checkout's ``OrderPlaced`` (on Kafka, and as ``POST /orders``) is such a
message: a misspelt optional field (``line_2`` for ``line2``) would otherwise be dropped
without a word, and the parcel would go out without its second address line. The
suite's own messages stay tolerant of fields they do not know (``Message``), so that a
producer can add an optional field before every consumer knows it. Adding a field to a
closed message is the other way round: its readers learn it before its producers send it.

The value objects inside (``Money``, ``OrderLine``, ``Address``…) are shared with the
suite's own messages, so they are not closed themselves: the closed message walks its
input against its fields before pydantic reads it.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any, Self, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails

from orderly_schemas.base import Message
from orderly_schemas.text import FieldPath

Schema = dict[str, Any]


def unknown_fields(model: type[BaseModel], data: Any, at: FieldPath = ()) -> Iterator[FieldPath]:
    """The path of each key in ``data`` (JSON-like) that is not a field of ``model`` or of
    the model of the field it is in."""
    if not isinstance(data, dict):
        return  # not an object: pydantic's own reading says what is wrong with it
    fields = model.model_fields
    for key, value in data.items():
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            yield (*at, key)
        else:
            yield from _unknown_in(field.annotation, value, (*at, key))


def _unknown_in(annotation: Any, value: Any, at: FieldPath) -> Iterator[FieldPath]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from unknown_fields(annotation, value, at)
        return
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple) and args and isinstance(value, list):
        for n, item in enumerate(value):
            yield from _unknown_in(args[0], item, (*at, n))
    elif origin in (Union, types.UnionType):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) == 1:  # Model | None: the only union the closed messages hold
            yield from unknown_fields(models[0], value, at)


class ClosedMessage(Message):
    """A message taken in from outside the suite: an unknown field at any depth refuses it
    (``extra_forbidden``, one error per field, the value not shown)."""

    # Only the message's own object says so in a schema pydantic renders: the definitions
    # of the value objects inside are shared with the suite's own messages (in an AsyncAPI
    # document, say). The published JSON Schema is closed at every depth (``close``).
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_unknown_fields(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        unknown = list(unknown_fields(cls, data))
        if unknown:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(type="extra_forbidden", loc=path, input="(not shown)")
                    for path in unknown
                ],
            )
        return handler(data)


def close(schema: Schema) -> Schema:
    """A closed message's JSON Schema, closed at every depth: ``additionalProperties:
    false`` on the message and on each object it defines."""
    for node in (schema, *schema.get("$defs", {}).values()):
        if node.get("type") == "object":
            node["additionalProperties"] = False
    return schema
