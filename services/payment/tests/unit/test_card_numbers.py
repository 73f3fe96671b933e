"""Card numbers are recognised wherever a provider token is expected."""

from __future__ import annotations

import pytest

from orderly_payment.domain.card_numbers import looks_like_card_number


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "378282246310005",  # 15 digits
        "4222222222222",  # 13 digits
        "6011000990139424123",  # 19 digits
        "tok_4111111111111111",
        "card:5555-5555-5555-4444:x",
    ],
)
def test_a_card_number_is_recognised(text: str) -> None:
    assert looks_like_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "tok_visa_ok",
        "tok_decline_insufficient_funds",
        "tok_123456789012",  # 12 digits
        "tok_12345678901234567890",  # 20 digits: longer than any card number
        "4111--1111-1111-1111",  # two separators in a row
        "pm_1a2b3c4d5e6f7g8h9i0j",
    ],
)
def test_a_token_is_not_a_card_number(text: str) -> None:
    assert not looks_like_card_number(text)
