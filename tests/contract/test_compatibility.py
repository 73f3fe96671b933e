"""The current contract stays compatible with the released v1, and the checker catches breaks."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel, Field

from orderly_schemas import Message, Money, OrderLine, compat, export, topics
from orderly_schemas.base import AwareDatetime
from orderly_schemas.checkout import Address, Customer, PaymentDetails

Schema = dict[str, Any]

BASELINE_DIR = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "baseline" / "v1"
CURRENT = export.json_schemas()
#: The breaks of v1 made on purpose (shared/schemas/baseline/v1.accepted.toml).
ACCEPTED = compat.accepted_breaks(BASELINE_DIR)


def baseline(message_type: str) -> Schema:
    schema: Schema = json.loads((BASELINE_DIR / f"{message_type}.json").read_text())
    return schema


def changed(message_type: str, change: Callable[[Schema], object]) -> list[str]:
    """The checker's verdict on the released schema after ``change``."""
    old = baseline(message_type)
    new = copy.deepcopy(old)
    change(new)
    return compat.incompatibilities(message_type, old, new)


def add_field(schema: Schema, name: str, field: Schema, *, required: bool) -> None:
    schema["properties"][name] = field
    if required:
        schema["required"].append(name)


def remove_field(schema: Schema, name: str) -> None:
    del schema["properties"][name]
    schema["required"].remove(name)


def rename_field(schema: Schema, old: str, new: str) -> None:
    schema["properties"][new] = schema["properties"].pop(old)
    schema["required"] = [new if n == old else n for n in schema["required"]]


# -- the real contract ----------------------------------------------------------------
def test_the_baseline_holds_every_released_message_type() -> None:
    released = sorted(path.stem for path in BASELINE_DIR.glob("*.json"))

    assert released, f"no baseline schemas in {BASELINE_DIR}"
    assert set(released) <= set(CURRENT), "a released message type was removed"


@pytest.mark.parametrize("message_type", sorted(p.stem for p in BASELINE_DIR.glob("*.json")))
def test_the_current_model_still_reads_what_v1_producers_send(message_type: str) -> None:
    problems = compat.incompatibilities(message_type, baseline(message_type), CURRENT[message_type])

    unaccepted = compat.unaccepted(problems, ACCEPTED)
    assert unaccepted == [], "\n".join(unaccepted)


def test_every_accepted_break_still_matches_a_change_and_says_why() -> None:
    assert ACCEPTED, "v1.accepted.toml lists the breaks made on purpose"
    for accepted in ACCEPTED:
        assert accepted.why.strip(), accepted.match.pattern
    assert compat.check_baseline(BASELINE_DIR, CURRENT) == []


def test_an_accepted_break_covers_only_what_it_matches_and_is_reported_once_stale(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "v1"
    shutil.copytree(BASELINE_DIR, folder)
    (tmp_path / "v1.accepted.toml").write_text(
        "[[accepted]]\n"
        "since = 2026-12-07\n"
        "match = 'OrderPlaced\\.total\\.amount: maximum tightened from None to .*'\n"
        "why = 'a bound the databases always had'\n"
        "[[accepted]]\n"
        "since = 2026-12-07\n"
        "match = 'OrderPlaced\\.gift_wrap: removed'\n"
        "why = 'nothing matches this one'\n"
    )

    problems = compat.check_baseline(folder, CURRENT)

    tightened = "maximum tightened from None to 1000000000000000"
    assert f"OrderPlaced.total.amount: {tightened}" not in problems
    assert f"OrderPlaced.lines[].unit_price.amount: {tightened}" in problems
    assert problems[-1] == (
        "accepted break 'OrderPlaced\\.gift_wrap: removed' (2026-12-07) matches no change any"
        " more; remove it from the accepted list"
    )


@pytest.mark.parametrize("message_type", sorted(CURRENT))
def test_a_schema_is_compatible_with_itself(message_type: str) -> None:
    schema = CURRENT[message_type]

    assert compat.incompatibilities(message_type, schema, copy.deepcopy(schema)) == []


def test_the_command_line_accepts_the_current_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert compat.main([str(BASELINE_DIR)]) == 0
    assert "compatible" in capsys.readouterr().out


def test_the_command_line_fails_with_every_message_when_the_baseline_is_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(BASELINE_DIR, tmp_path, dirs_exist_ok=True)
    # A baseline that promised a field the models no longer have, and a type they dropped.
    placed = baseline("OrderPlaced")
    add_field(placed, "gift_wrap", {"type": "boolean"}, required=True)
    (tmp_path / "OrderPlaced.json").write_text(json.dumps(placed))
    (tmp_path / "OrderTeleported.json").write_text(json.dumps({"x-topic": "order.events.v1"}))

    status = compat.main([str(tmp_path)])

    err = capsys.readouterr().err
    assert status == 1
    assert "OrderPlaced.gift_wrap: removed" in err
    assert "OrderTeleported: message type removed; consumers of order.events.v1" in err


def test_the_command_line_refuses_an_empty_baseline(tmp_path: Path) -> None:
    assert compat.check_baseline(tmp_path, CURRENT) == [
        f"{tmp_path}: no <Type>.json baseline schemas found"
    ]


# -- each kind of break, on a copy of the released OrderPlaced ------------------------------
def test_removing_a_field_is_a_break() -> None:
    problems = changed("OrderPlaced", lambda s: remove_field(s, "total"))

    assert problems == ["OrderPlaced.total: removed"]


def test_renaming_a_field_shows_as_removed_and_a_new_required_field() -> None:
    problems = changed("OrderPlaced", lambda s: rename_field(s, "lines", "items"))

    assert problems == [
        "OrderPlaced.lines: removed (renamed?); new at the same level: items",
        "OrderPlaced.items: new required field; messages without it are rejected"
        " (add it as optional with a default)",
    ]


def test_changing_a_field_type_is_a_break() -> None:
    problems = changed(
        "OrderPlaced", lambda s: s["properties"].update(order_id={"type": "integer"})
    )

    assert problems == ["OrderPlaced.order_id: type changed from string (uuid) to integer"]


def test_adding_a_required_field_is_a_break() -> None:
    problems = changed(
        "OrderPlaced",
        lambda s: add_field(s, "channel", {"type": "string"}, required=True),
    )

    assert len(problems) == 1
    assert problems[0].startswith("OrderPlaced.channel: new required field")


def test_changing_a_type_inside_the_items_of_a_list_names_the_nested_path() -> None:
    def quantity_as_text(s: Schema) -> None:
        s["$defs"]["OrderLine"]["properties"]["quantity"] = {"type": "string"}

    problems = changed("OrderPlaced", quantity_as_text)

    assert problems == ["OrderPlaced.lines[].quantity: type changed from integer to string"]


def test_a_change_in_a_shared_model_is_reported_at_every_place_it_is_used() -> None:
    def amount_as_float(s: Schema) -> None:
        s["$defs"]["Money"]["properties"]["amount"]["type"] = "number"

    problems = changed("OrderPlaced", amount_as_float)

    assert sorted(problems) == [
        "OrderPlaced.lines[].unit_price.amount: type changed from integer to number",
        "OrderPlaced.total.amount: type changed from integer to number",
    ]


def test_making_an_optional_field_required_is_a_break() -> None:
    problems = changed("OrderPlaced", lambda s: s["$defs"]["Address"]["required"].append("line2"))

    assert problems == [
        "OrderPlaced.shipping_address.line2: became required; messages without it are now rejected"
    ]


def test_making_a_nullable_field_non_nullable_is_a_break() -> None:
    problems = changed(
        "NotificationSent",
        lambda s: s["properties"].update(order_id={"type": "string", "format": "uuid"}),
    )

    assert problems == [
        "NotificationSent.order_id: no longer nullable; messages with null are now rejected"
    ]


def test_removing_an_allowed_value_is_a_break() -> None:
    problems = changed(
        "OrderPlaced",
        lambda s: s["$defs"]["PaymentDetails"]["properties"]["method"]["enum"].remove(
            "third_party"
        ),
    )

    assert len(problems) == 1
    assert problems[0].startswith("OrderPlaced.payment.method: value(s) ['third_party'] removed")


@pytest.mark.parametrize(
    ("tighten", "expected"),
    [
        (
            lambda s: s["properties"]["lines"].update(maxItems=100),
            "OrderPlaced.lines: maxItems tightened from 200 to 100",
        ),
        (
            lambda s: s["$defs"]["Customer"]["properties"]["name"].update(minLength=2),
            "OrderPlaced.customer.name: minLength tightened from 1 to 2",
        ),
        (
            lambda s: s["$defs"]["Address"]["properties"]["country"].update(pattern="^[A-Z]{3}$"),
            "OrderPlaced.shipping_address.country: pattern changed from '^[A-Z]{2}$'"
            " to '^[A-Z]{3}$'",
        ),
        (
            lambda s: s["$defs"]["Customer"]["properties"]["customer_id"].update(format="uuid"),
            "OrderPlaced.customer.customer_id: format changed from None to 'uuid'",
        ),
    ],
    ids=["max-items", "min-length", "pattern", "format"],
)
def test_tightening_a_constraint_is_a_break(
    tighten: Callable[[Schema], object], expected: str
) -> None:
    assert changed("OrderPlaced", tighten) == [expected]


def test_moving_a_message_to_another_topic_is_a_break() -> None:
    problems = changed("OrderPlaced", lambda s: s.update({"x-topic": "checkout.orders.v2"}))

    assert len(problems) == 1
    assert problems[0].startswith(
        "OrderPlaced: topic changed from 'checkout.orders.v1' to 'checkout.orders.v2'"
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda s: add_field(
            s, "coupon_code", {"anyOf": [{"type": "string"}, {"type": "null"}]}, required=False
        ),
        lambda s: s["properties"]["lines"].update(maxItems=500),
        lambda s: s["$defs"]["Address"]["properties"]["city"].pop("maxLength"),
        lambda s: s["$defs"]["PaymentDetails"]["properties"]["method"]["enum"].append("invoice"),
        lambda s: s["$defs"]["Customer"]["properties"].update(
            name={"anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}]}
        ),
        lambda s: s.update(description="reworded documentation is not a change of contract"),
    ],
    ids=[
        "optional-field-added",
        "bound-loosened",
        "bound-dropped",
        "value-added",
        "made-nullable",
        "docs-only",
    ],
)
def test_changes_that_keep_v1_messages_readable_are_compatible(
    change: Callable[[Schema], object],
) -> None:
    assert changed("OrderPlaced", change) == []


# -- end to end: a real pydantic model against the released baseline -------------------------
class OrderPlacedWithoutPlacedAt(Message):
    """OrderPlaced as someone might "simplify" it: ``placed_at`` dropped."""

    topic = topics.CHECKOUT_ORDERS

    order_id: UUID
    customer: Customer
    lines: list[OrderLine] = Field(min_length=1, max_length=200)
    total: Money
    shipping_address: Address
    payment: PaymentDetails


class OrderPlacedWithCoupon(Message):
    """OrderPlaced grown the compatible way: one optional field more."""

    topic = topics.CHECKOUT_ORDERS

    order_id: UUID
    customer: Customer
    lines: list[OrderLine] = Field(min_length=1, max_length=200)
    total: Money
    shipping_address: Address
    payment: PaymentDetails
    placed_at: AwareDatetime
    coupon_code: str | None = Field(default=None, max_length=32)


class OrderPlacedWithTextQuantities(Message):
    """OrderPlaced whose lines carry the quantity as text."""

    topic = topics.CHECKOUT_ORDERS

    class Line(OrderLine):
        quantity: str  # type: ignore[assignment]

    order_id: UUID
    customer: Customer
    lines: list[Line] = Field(min_length=1, max_length=200)
    total: Money
    shipping_address: Address
    payment: PaymentDetails
    placed_at: AwareDatetime


def test_a_model_that_drops_a_field_fails_against_the_baseline() -> None:
    problems = compat.unaccepted(
        compat.incompatibilities(
            "OrderPlaced", baseline("OrderPlaced"), OrderPlacedWithoutPlacedAt.model_json_schema()
        ),
        ACCEPTED,
    )

    assert problems == ["OrderPlaced.placed_at: removed"]


def test_a_model_that_changes_a_nested_type_fails_against_the_baseline() -> None:
    text_quantities = OrderPlacedWithTextQuantities.model_json_schema()
    problems = compat.unaccepted(
        compat.incompatibilities("OrderPlaced", baseline("OrderPlaced"), text_quantities),
        ACCEPTED,
    )

    assert problems == ["OrderPlaced.lines[].quantity: type changed from integer to string"]


def test_a_model_that_adds_an_optional_field_passes_against_the_baseline() -> None:
    problems = compat.unaccepted(
        compat.incompatibilities(
            "OrderPlaced", baseline("OrderPlaced"), OrderPlacedWithCoupon.model_json_schema()
        ),
        ACCEPTED,
    )

    assert problems == []


class Category(BaseModel):
    name: str
    children: list[Category] = []


class CatalogueChanged(Message):
    topic = topics.ORDER_EVENTS

    root: Category


def test_a_recursive_model_is_compared_once_per_definition() -> None:
    old = CatalogueChanged.model_json_schema()
    new = copy.deepcopy(old)
    new["$defs"]["Category"]["properties"]["name"] = {"type": "integer"}

    assert compat.incompatibilities("CatalogueChanged", old, old) == []
    assert compat.incompatibilities("CatalogueChanged", old, new) == [
        "CatalogueChanged.root.name: type changed from string to integer"
    ]
