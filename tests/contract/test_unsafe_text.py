"""No message read from JSON carries text a store cannot keep: a NUL anywhere in it
(nested, in a list, in a field its reader ignores) refuses it, naming each field; a
lone surrogate is not even JSON to the readers."""

from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from orderly_dev.checkout import make_order
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.text import NUL_RULE, SURROGATE_RULE, text_rule, unsafe_text


def test_a_nul_anywhere_in_an_order_refuses_it_naming_each_field() -> None:
    body = json.loads(make_order(random.Random(5)).model_dump_json())
    body["customer"]["name"] = "Ada\x00"
    body["lines"][0]["sku_note"] = ["ok", "\x00"]  # a field this reader ignores

    with pytest.raises(ValidationError) as refused:
        OrderPlaced.model_validate_json(json.dumps(body))

    errors = refused.value.errors(include_url=False)
    assert [(e["type"], e["loc"], e["msg"], e["input"]) for e in errors] == [
        ("unsafe_text", ("customer", "name"), NUL_RULE, "(not shown)"),
        ("unsafe_text", ("lines", 0, "sku_note", 1), NUL_RULE, "(not shown)"),
    ]


def test_a_lone_surrogate_is_not_even_json_to_the_reader() -> None:
    body = make_order(random.Random(6)).model_dump_json().replace("Street", "Str\\ud800eet")

    with pytest.raises(ValidationError, match="json_invalid"):
        OrderPlaced.model_validate_json(body)


def test_an_escaped_backslash_before_u0000_is_only_text() -> None:
    body = json.loads(make_order(random.Random(7)).model_dump_json())
    body["customer"]["name"] = "C:\\u0000 Ada"  # a backslash, then the letters u0000

    read = OrderPlaced.model_validate_json(json.dumps(body))

    assert read.customer.name == "C:\\u0000 Ada"


def test_other_text_is_kept_as_it_is() -> None:
    body = json.loads(make_order(random.Random(8)).model_dump_json())
    body["customer"]["name"] = "Zoë Ægir 😀 李"

    assert OrderPlaced.model_validate_json(json.dumps(body)).customer.name == "Zoë Ægir 😀 李"
    assert text_rule("tab\tand newline\n") is None
    assert list(unsafe_text({"a": ["\x00", {"b": "\udc00"}]})) == [
        (("a", 0), NUL_RULE),
        (("a", 1, "b"), SURROGATE_RULE),
    ]
