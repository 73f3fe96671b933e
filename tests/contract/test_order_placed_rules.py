"""OrderPlaced refuses an order that does not add up, naming the field at fault."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from orderly_schemas import decode
from orderly_schemas.checkout import OrderPlaced

Payload = dict[str, Any]


def refusal(payload: Payload) -> ValidationError:
    """The error a consumer gets for ``payload`` as it arrives from Kafka."""
    with pytest.raises(ValidationError) as caught:
        decode("OrderPlaced", json.dumps(payload).encode())
    return caught.value


def locations(error: ValidationError) -> list[str]:
    return [".".join(map(str, e["loc"])) for e in error.errors()]


def test_a_valid_order_is_accepted(order_placed_json: Payload) -> None:
    assert isinstance(decode("OrderPlaced", json.dumps(order_placed_json)), OrderPlaced)


def test_a_total_that_is_not_the_sum_of_the_lines_is_refused(order_placed_json: Payload) -> None:
    order_placed_json["total"]["amount"] += 1

    error = refusal(order_placed_json)

    assert "total.amount 3248 is not the sum of the lines (3247)" in str(error)


def test_lines_in_another_currency_than_the_total_are_refused(order_placed_json: Payload) -> None:
    order_placed_json["lines"][1]["unit_price"]["currency"] = "USD"

    error = refusal(order_placed_json)

    assert "lines.1.unit_price.currency: USD differs from the order currency EUR" in str(error)


def test_the_same_sku_on_two_lines_is_refused(order_placed_json: Payload) -> None:
    order_placed_json["lines"][1]["sku"] = order_placed_json["lines"][0]["sku"]
    order_placed_json["lines"][1]["unit_price"] = order_placed_json["lines"][0]["unit_price"]
    order_placed_json["total"]["amount"] = 3 * 1299

    error = refusal(order_placed_json)

    sku = order_placed_json["lines"][0]["sku"]
    assert f"lines.1.sku: {sku} is already on another line" in str(error)


@pytest.mark.parametrize(
    "naive", ["2026-03-14T09:26:53", "2026-03-14T09:26:53.589"], ids=["seconds", "millis"]
)
def test_a_time_without_a_timezone_is_refused(order_placed_json: Payload, naive: str) -> None:
    order_placed_json["placed_at"] = naive

    error = refusal(order_placed_json)

    assert locations(error) == ["placed_at"]
    assert "must be timezone-aware" in str(error)


@pytest.mark.parametrize(
    ("where", "set_amount", "amount"),
    [
        ("total.amount", lambda p, v: p["total"].update(amount=v), -3247),
        ("total.amount", lambda p, v: p["total"].update(amount=v), 32.47),
        ("total.amount", lambda p, v: p["total"].update(amount=v), 3247.0),
        ("total.amount", lambda p, v: p["total"].update(amount=v), "3247"),
        (
            "lines.0.unit_price.amount",
            lambda p, v: p["lines"][0]["unit_price"].update(amount=v),
            -1,
        ),
        (
            "lines.0.unit_price.amount",
            lambda p, v: p["lines"][0]["unit_price"].update(amount=v),
            12.99,
        ),
    ],
    ids=[
        "negative-total",
        "float-total",
        "integral-float-total",
        "text-total",
        "negative-price",
        "float-price",
    ],
)
def test_an_amount_must_be_a_non_negative_integer_of_minor_units(
    order_placed_json: Payload, where: str, set_amount: Any, amount: object
) -> None:
    set_amount(order_placed_json, amount)

    error = refusal(order_placed_json)

    assert locations(error) == [where]


def test_a_python_float_amount_is_refused_too(order_placed_json: Payload) -> None:
    order_placed_json["total"]["amount"] = 32.47

    with pytest.raises(ValidationError) as caught:
        OrderPlaced.model_validate(order_placed_json)

    assert locations(caught.value) == ["total.amount"]


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("lines.0.quantity", lambda p: p["lines"][0].update(quantity=0)),
        ("lines", lambda p: p.update(lines=[])),
        (
            "lines.0.unit_price.currency",
            lambda p: p["lines"][0]["unit_price"].update(currency="eur"),
        ),
        ("customer.email", lambda p: p["customer"].update(email="not-an-address")),
        ("shipping_address.country", lambda p: p["shipping_address"].update(country="Germany")),
        ("payment.method", lambda p: p["payment"].update(method="cash")),
        ("order_id", lambda p: p.update(order_id="42")),
    ],
    ids=[
        "zero-quantity",
        "no-lines",
        "lowercase-currency",
        "bad-email",
        "country-name",
        "unknown-method",
        "order-id",
    ],
)
def test_a_malformed_field_is_named(order_placed_json: Payload, where: str, change: Any) -> None:
    change(order_placed_json)

    error = refusal(order_placed_json)

    assert where in locations(error)
