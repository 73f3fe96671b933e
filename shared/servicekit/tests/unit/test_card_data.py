"""Card numbers are recognised wherever they hide, and ids, times, amounts, barcodes,
tracking and phone numbers are not."""

from __future__ import annotations

import json
import uuid

import pytest

from orderly_kit.card_data import (
    CARD_NETWORKS,
    MARKER,
    card_number_fields,
    card_number_locations,
    describe,
    is_card_number,
    looks_like_card_number,
    redact_card_numbers,
    without_card_numbers,
)


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111 1111-1111 1111",  # mixed single separators
        "378282246310005",  # 15 digits
        "4222222222222",  # 13 digits
        "6011000990139424124",  # 19 digits
        "tok_4111111111111111",
        "card:5555-5555-5555-4444:x",
        "please charge 4000 0566 5566 5556, thanks",
        "Apt 3, card 4000056655665556",
        f"{uuid.UUID(int=0)} then 4000056655665556",  # a UUID hides nothing after it
        "4111 1111 1111 1111 12/27",  # with the expiry after it
        "4111-1111-1111-1111-0427",
        "ref 12 4111111111111111",
        "1 2 4111 1111 1111 1111 12 27",  # two groups of other digits on either side
        "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    ],
)
def test_a_card_number_is_recognised(text: str) -> None:
    assert looks_like_card_number(text)


def test_a_run_is_looked_at_without_two_groups_at_either_end_at_most() -> None:
    # So the work a run costs is bounded, however long: three groups after a card
    # number hide it (as 20 digits in a row always did), and a run of a million groups
    # is no slower to tell than to find.
    long_run = " ".join(["4"] * 1_000_000)

    assert not looks_like_card_number("4111 1111 1111 1111 12 27 123")
    assert not looks_like_card_number(long_run)


# The networks' own test numbers (as their sandboxes publish them).
TEST_CARDS = {
    "Visa": "4111111111111111",
    "Mastercard": "5555555555554444",
    "Mastercard 2-series": "2223003122003222",
    "American Express": "378282246310005",
    "Discover": "6011111111111117",
    "JCB": "3530111333300000",
    "UnionPay": "6200000000000005",
    "Diners Club": "30569309025904",
    "Maestro": "6759649826438453",
}


@pytest.mark.parametrize("number", TEST_CARDS.values(), ids=TEST_CARDS.keys())
def test_every_network_s_test_card_is_recognised(number: str) -> None:
    assert is_card_number(number)
    assert looks_like_card_number(f"card {number[:4]} {number[4:8]} {number[8:]}")


def test_every_network_has_a_test_card() -> None:
    assert {name.removesuffix(" 2-series") for name in TEST_CARDS} == set(CARD_NETWORKS)


@pytest.mark.parametrize(
    "text",
    [
        "4006381333931",  # an EAN-13 barcode that begins like a Visa card: fails Luhn
        "9787111636618",  # an EAN-13 of a book (ISBN): no issuer begins with 9
        # EAN-13s that pass Luhn, of prefixes no issuer has: British (50, but not Maestro's
        # 5018, 5020, 5038) and Chinese (69).
        "5012345678023",
        "6901234567892",
        "961234567890126",  # a 15-digit tracking number: passes Luhn, no issuer's prefix
        "8613812345678",  # a Chinese mobile with its country code: passes Luhn, too
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "4111111111111112",  # a card number mistyped: fails Luhn
        "41111111111111111",  # 17 digits in a row are taken whole
        "1234567890123",
    ],
)
def test_barcodes_tracking_and_phone_numbers_are_not_card_numbers(text: str) -> None:
    assert not looks_like_card_number(text)


def test_a_barcode_that_begins_like_a_card_and_passes_luhn_is_refused_the_known_cost() -> None:
    # Two well-formed EAN-13s (GS1 check digit right) of one German maker: one in ten
    # such barcodes passes the Luhn check too, and begins with Visa's 4.
    passes, refused = "4006381333931", "4006381333924"

    assert (looks_like_card_number(passes), looks_like_card_number(refused)) == (False, True)


@pytest.mark.parametrize(
    "text",
    [
        "tok_visa_ok",
        "tok_decline_insufficient_funds",
        "tok_123456789012",  # 12 digits
        "tok_12345678901234567890",  # 20 digits: longer than any card number
        "1234 5678 9012 3456 7890",  # 20 digits, spaced: not a 16-digit number inside it
        "1234-5678-9012-3456-7890",
        "4111--1111-1111-1111",  # two separators in a row
        "4111  1111 1111 1111",
        "pm_1a2b3c4d5e6f7g8h9i0j",
        # UUIDs whose hex groups hold 13 or more digits joined by dashes.
        "12345678-1234-1234-1234-123456789012",
        "c0ffee00-1234-4234-9234-123456789012",
        "order 4f6b2c1e-5d3a-4e2b-8123-456789012345 confirmed",
        # Hex ids: their digit runs touch letters.
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "a1234567890123456b",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        # Timestamps.
        "2026-01-31T12:00:00Z",
        "2026-01-31T12:00:00.123456+00:00",
        "2026-01-31 12:00:00.123456789",
        # Amounts and quantities as strings.
        "1999",
        "12.50",
        "1234567.89",
        "EUR 1 234 567,89",
        # Everyday numbers.
        "+49 30 1234 5678",
        "ORD-0000042",
        "DE89 3704 0044 0532 0130 00",  # a spaced IBAN: 20 digits after its letters
        "",
    ],
)
def test_ids_times_and_amounts_are_not_card_numbers(text: str) -> None:
    assert not looks_like_card_number(text)


def test_redaction_replaces_each_run_and_keeps_the_rest() -> None:
    order_id = str(uuid.uuid4())
    text = f"order {order_id}: card 4111 1111 1111 1111, then 5555-5555-5555-4444."

    assert redact_card_numbers(text) == f"order {order_id}: card {MARKER}, then {MARKER}."


def test_redaction_leaves_text_without_card_numbers_alone() -> None:
    text = "order 12345678-1234-1234-1234-123456789012 at 2026-01-31T12:00:00Z for 1999"

    assert redact_card_numbers(text) is text


ORDER = {
    "order_id": "12345678-1234-1234-1234-123456789012",
    "customer": {"customer_id": "C00042", "email": "c42@example.com", "name": "Customer 42"},
    "lines": [
        {"sku": "DEMO-0001", "quantity": 2, "unit_price": {"amount": 1999, "currency": "EUR"}},
        {"sku": "DEMO-0002", "quantity": 1, "unit_price": {"amount": 500, "currency": "EUR"}},
    ],
    "total": {"amount": 4498, "currency": "EUR"},
    "shipping_address": {"name": "C", "line1": "1 Market St", "city": "Berlin", "country": "DE"},
    "payment": {"method": "credit_card", "token": "tok_visa_ok"},
    "placed_at": "2026-01-31T12:00:00.123456Z",
}


def test_a_clean_order_has_no_card_number_fields() -> None:
    assert card_number_fields(ORDER) == []


def test_every_field_with_a_card_number_is_named_by_its_path() -> None:
    order = json.loads(json.dumps(ORDER))
    order["payment"]["token"] = "4111 1111 1111 1111"
    order["lines"][1]["sku"] = "4111111111111111"
    order["shipping_address"]["line2"] = "card 4000-0566-5566-5556 please"

    assert card_number_fields(order) == [
        "lines.1.sku",
        "shipping_address.line2",
        "payment.token",
    ]
    assert card_number_locations(order)[0] == ("lines", 1, "sku")


def test_a_card_number_sent_as_a_json_number_counts() -> None:
    assert card_number_fields({"card": 4111111111111111, "amount": 1999, "ok": True}) == ["card"]


def test_a_bare_value_is_named_as_the_body() -> None:
    assert card_number_fields("4111111111111111") == ["(body)"]
    assert card_number_fields(["x", "4111111111111111"]) == ["1"]


def test_a_key_that_is_a_card_number_is_named_without_the_number() -> None:
    fields = card_number_fields({"cards": {"4111111111111111": "visa"}})

    assert fields == [f"cards.{MARKER}"]
    assert "4111" not in " ".join(fields)


def test_without_card_numbers_replaces_exactly_the_named_values() -> None:
    order = json.loads(json.dumps(ORDER))
    order["payment"]["token"] = "4111111111111111"
    order["shipping_address"]["line2"] = "card 4000 0566 5566 5556"

    clean = without_card_numbers(order)

    assert clean["payment"] == {"method": "credit_card", "token": MARKER}
    assert clean["shipping_address"]["line2"] == MARKER
    assert {k: v for k, v in clean.items() if k not in ("payment", "shipping_address")} == {
        k: v for k, v in ORDER.items() if k not in ("payment", "shipping_address")
    }
    assert order["payment"]["token"] == "4111111111111111"  # the input is not changed


def test_the_reason_names_each_field_and_the_rule() -> None:
    assert describe(["payment.token"]) == (
        "field payment.token: looks like a card number; send the provider's token instead"
    )
    assert describe(["a", "b"]).count("looks like a card number") == 2
