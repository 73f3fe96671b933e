"""What no service can keep or act on is refused by the contract as a message is read,
naming the field and the rule, never the value: so it is a 422 over HTTP and a dead
letter on Kafka before any effect, and no consumer accepts what another refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from orderly_schemas import Message, decode, export
from orderly_schemas.base import MAX_AMOUNT, MAX_UNITS
from orderly_schemas.checkout import OrderPlaced

Payload = dict[str, Any]


def refusal(message_type: str, payload: Payload) -> ValidationError:
    """The error a consumer gets for ``payload`` as it arrives from Kafka."""
    with pytest.raises(ValidationError) as caught:
        decode(message_type, json.dumps(payload).encode())
    return caught.value


def locations(error: ValidationError) -> list[str]:
    return [".".join(map(str, e["loc"])) for e in error.errors()]


def as_json(examples: dict[str, Message], message_type: str) -> Payload:
    payload: Payload = examples[message_type].model_dump(mode="json")
    return payload


def one_line_order(order: Payload, *, unit_price: int, quantity: int = 1) -> Payload:
    order["lines"] = order["lines"][:1]
    order["lines"][0].update(quantity=quantity)
    order["lines"][0]["unit_price"]["amount"] = unit_price
    order["total"]["amount"] = unit_price * quantity
    return order


# -- amounts and quantities: what the databases hold --------------------------------------
def test_an_amount_beyond_what_the_databases_hold_is_refused_naming_each_field(
    order_placed_json: Payload,
) -> None:
    order = one_line_order(order_placed_json, unit_price=10**30)

    error = refusal("OrderPlaced", order)

    assert locations(error) == ["lines.0.unit_price.amount", "total.amount"]
    assert {e["msg"] for e in error.errors()} == {
        f"Input should be less than or equal to {MAX_AMOUNT}"
    }


def test_the_largest_amount_is_accepted(order_placed_json: Payload) -> None:
    order = one_line_order(order_placed_json, unit_price=MAX_AMOUNT)

    read = decode("OrderPlaced", json.dumps(order))

    assert isinstance(read, OrderPlaced)
    assert read.total.amount == 10**15


def test_lines_that_add_up_beyond_the_largest_total_are_refused(
    order_placed_json: Payload,
) -> None:
    order = one_line_order(order_placed_json, unit_price=MAX_AMOUNT, quantity=2)

    error = refusal("OrderPlaced", order)

    assert locations(error) == ["total.amount"]


@pytest.mark.parametrize(
    ("message_type", "field", "value"),
    [
        ("CapturePayment", "amount.amount", 10**30),
        ("RefundPayment", "amount.amount", 10**16),
        ("StockReserved", "allocations.0.quantity", MAX_UNITS + 1),
        ("StockReceived", "quantity", 10**30),
        ("StockReceived", "on_hand", MAX_UNITS + 1),
        ("StockAdjusted", "quantity_change", -(MAX_UNITS + 1)),
        ("LowStockDetected", "safety_stock", 2**31),
        ("StockTransferred", "lines.0.received", 10**30),
    ],
)
def test_every_amount_and_quantity_is_bounded(
    examples: dict[str, Message], message_type: str, field: str, value: int
) -> None:
    payload = as_json(examples, message_type)
    *path, last = field.split(".")
    target: Any = payload
    for part in path:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value

    assert locations(refusal(message_type, payload)) == [field]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize(
    "field", ["total.amount", "lines.0.quantity", "lines.0.unit_price.amount", "payment.exp_month"]
)
def test_not_a_number_and_infinity_are_refused_wherever_a_number_is(
    order_placed_json: Payload, field: str, number: str
) -> None:
    order_placed_json["payment"]["exp_month"] = 12
    *path, last = field.split(".")
    target: Any = order_placed_json
    for part in path:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = "__NUMBER__"
    body = json.dumps(order_placed_json).replace('"__NUMBER__"', number)

    with pytest.raises(ValidationError) as caught:
        decode("OrderPlaced", body)

    assert locations(caught.value) == [field]


# -- currency and country codes -------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "code", "kind"),
    [
        ("total.currency", "ABC", "currency_code"),
        ("lines.0.unit_price.currency", "XXX", "currency_code"),
        ("shipping_address.country", "XY", "country_code"),
        ("shipping_address.country", "UK", "country_code"),
    ],
    ids=["made-up-currency", "no-currency", "made-up-country", "uk-is-gb"],
)
def test_a_code_that_iso_does_not_define_is_refused(
    order_placed_json: Payload, field: str, code: str, kind: str
) -> None:
    *path, last = field.split(".")
    target: Any = order_placed_json
    for part in path:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = code

    error = refusal("OrderPlaced", order_placed_json)

    assert [(e["type"], ".".join(map(str, e["loc"]))) for e in error.errors()] == [(kind, field)]


def test_iso_codes_are_accepted_beyond_the_usual_ones(order_placed_json: Payload) -> None:
    for line in order_placed_json["lines"]:
        line["unit_price"]["currency"] = "KWD"
    order_placed_json["total"]["currency"] = "KWD"
    order_placed_json["shipping_address"]["country"] = "AX"

    order = decode("OrderPlaced", json.dumps(order_placed_json))

    assert isinstance(order, OrderPlaced)
    assert (order.total.currency, order.shipping_address.country) == ("KWD", "AX")


def test_a_code_is_refused_on_every_topic_that_carries_it(examples: dict[str, Message]) -> None:
    command = as_json(examples, "ShipOrder")
    # As a ShipOrder sent before addresses were sealed carries it (read still).
    command["ship_to"] = as_json(examples, "OrderPlaced")["shipping_address"] | {"country": "ZZ"}
    event = as_json(examples, "PaymentCaptured")
    event["amount"]["currency"] = "ABC"

    assert locations(refusal("ShipOrder", command)) == ["ship_to.country"]
    assert locations(refusal("PaymentCaptured", event)) == ["amount.currency"]


# -- times ---------------------------------------------------------------------------------
def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    "number",
    [1_773_480_413, 1_773_480_413_589, 1_773_480_413.5, "1773480413", True],
    ids=["seconds", "milliseconds", "float", "digits-in-a-string", "boolean"],
)
def test_a_time_given_as_a_number_is_refused(order_placed_json: Payload, number: object) -> None:
    order_placed_json["placed_at"] = number

    error = refusal("OrderPlaced", order_placed_json)

    assert [(e["type"], e["loc"]) for e in error.errors()] == [("datetime_type", ("placed_at",))]
    assert "not a number" in str(error)


def test_every_time_in_the_contract_refuses_a_number(examples: dict[str, Message]) -> None:
    event = as_json(examples, "ShipmentDelivered")
    event["delivered_at"] = 1_773_480_413

    assert locations(refusal("ShipmentDelivered", event)) == ["delivered_at"]


@pytest.mark.parametrize(
    ("placed_at", "kind"),
    [
        ("1970-01-01T00:00:00Z", "placed_too_early"),
        ("1999-12-31T23:59:59+00:00", "placed_too_early"),
        (iso(datetime.now(UTC) + timedelta(hours=2)), "placed_in_the_future"),
        ("2999-01-01T00:00:00Z", "placed_in_the_future"),
    ],
    ids=["epoch", "last-century", "two-hours-ahead", "far-future"],
)
def test_an_order_placed_far_in_the_past_or_in_the_future_is_refused(
    order_placed_json: Payload, placed_at: str, kind: str
) -> None:
    order_placed_json["placed_at"] = placed_at

    error = refusal("OrderPlaced", order_placed_json)

    assert [(e["type"], e["loc"]) for e in error.errors()] == [(kind, ("placed_at",))]


@pytest.mark.parametrize(
    "placed_at",
    [
        "2000-01-01T00:00:00Z",
        iso(datetime.now(UTC) - timedelta(days=60)),
        iso(datetime.now(UTC) + timedelta(minutes=30)),
        (datetime.now(UTC) + timedelta(minutes=50)).astimezone().isoformat(),
    ],
    ids=["first-moment", "replayed-weeks-later", "clock-ahead", "other-offset"],
)
def test_an_order_placed_within_the_bounds_is_read(
    order_placed_json: Payload, placed_at: str
) -> None:
    order_placed_json["placed_at"] = placed_at

    assert isinstance(decode("OrderPlaced", json.dumps(order_placed_json)), OrderPlaced)


# -- unknown fields ------------------------------------------------------------------------
def test_an_unknown_field_at_any_depth_of_an_order_refuses_it_naming_each(
    order_placed_json: Payload,
) -> None:
    order_placed_json["coupon"] = "SPRING"
    order_placed_json["customer"]["phone"] = "+49 30 1234567"
    order_placed_json["lines"][1]["unit_price"]["cents"] = 649
    order_placed_json["shipping_address"]["line_2"] = "3. OG links"
    order_placed_json["payment"]["card_holder"] = "Ada Lovelace"

    error = refusal("OrderPlaced", order_placed_json)

    assert [(e["type"], e["loc"], e["input"]) for e in error.errors()] == [
        ("extra_forbidden", ("customer", "phone"), "(not shown)"),
        ("extra_forbidden", ("lines", 1, "unit_price", "cents"), "(not shown)"),
        ("extra_forbidden", ("shipping_address", "line_2"), "(not shown)"),
        ("extra_forbidden", ("payment", "card_holder"), "(not shown)"),
        ("extra_forbidden", ("coupon",), "(not shown)"),
    ]
    assert "Lovelace" not in str(error)


def test_the_published_order_schema_is_closed_at_every_depth() -> None:
    schema = export.json_schemas()["OrderPlaced"]

    assert schema["additionalProperties"] is False
    assert {name: d["additionalProperties"] for name, d in schema["$defs"].items()} == {
        "Address": False,
        "Customer": False,
        "Money": False,
        "OrderLine": False,
        "PaymentDetails": False,
    }


# -- zero-total orders --------------------------------------------------------------------
def test_an_order_of_nothing_to_pay_is_refused(order_placed_json: Payload) -> None:
    for line in order_placed_json["lines"]:
        line["unit_price"]["amount"] = 0
    order_placed_json["total"]["amount"] = 0

    error = refusal("OrderPlaced", order_placed_json)

    assert [(e["type"], e["loc"]) for e in error.errors()] == [("zero_total", ("total",))]
    assert "an order must cost something" in str(error)


def test_a_free_line_beside_a_paid_one_is_accepted(order_placed_json: Payload) -> None:
    gift = order_placed_json["lines"][1]
    order_placed_json["total"]["amount"] -= gift["unit_price"]["amount"] * gift["quantity"]
    gift["unit_price"]["amount"] = 0

    order = decode("OrderPlaced", json.dumps(order_placed_json))

    assert isinstance(order, OrderPlaced)
    assert order.lines[1].unit_price.amount == 0
