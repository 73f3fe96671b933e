"""The Orderly-Signature header: HMAC-SHA256 of "<t>.<body>", a timestamp window, rotation."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from orderly_kit.webhook_signature import WebhookSignatureError, sign, split_secrets, verify

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
BODY = b'{"tracking_number": "SP1", "status": "delivered"}'
FIVE_MINUTES = timedelta(minutes=5)


def test_the_header_is_the_timestamp_and_the_hmac_of_timestamp_dot_body() -> None:
    header = sign(BODY, secrets=["s3cret"], at=AT)

    t = int(AT.timestamp())
    expected = hmac.new(b"s3cret", f"{t}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={t},v1={expected}"


def test_a_signature_made_with_any_configured_secret_is_accepted() -> None:
    for secret in ("new", "old"):
        header = sign(BODY, secrets=[secret], at=AT)
        verify(header, BODY, secrets=["new", "old"], now=AT, tolerance=FIVE_MINUTES)
    # A sender signing with both during a rotation, to a receiver that knows only one.
    header = sign(BODY, secrets=["old", "new"], at=AT)
    verify(header, BODY, secrets=["new"], now=AT, tolerance=FIVE_MINUTES)


@pytest.mark.parametrize(
    ("header", "body", "now", "reason"),
    [
        (None, BODY, AT, "the Orderly-Signature header is missing"),
        ("t=abc,v1=00", BODY, AT, "Orderly-Signature t='abc' is not a unix time in seconds"),
        ("v1=00", BODY, AT, "Orderly-Signature must be 't=<unix seconds>,v1=<hex HMAC-SHA256>'"),
        (
            sign(BODY, secrets=["other"], at=AT),
            BODY,
            AT,
            "Orderly-Signature does not match the body with any configured secret",
        ),
        (
            sign(BODY, secrets=["s3cret"], at=AT),
            BODY + b" ",
            AT,
            "Orderly-Signature does not match the body with any configured secret",
        ),
        (
            sign(BODY, secrets=["s3cret"], at=AT),
            BODY,
            AT + timedelta(seconds=301),
            f"Orderly-Signature timestamp {int(AT.timestamp())} is 301s old; at most 300s is"
            " accepted: sign each delivery when it is sent",
        ),
        (
            sign(BODY, secrets=["s3cret"], at=AT + timedelta(seconds=400)),
            BODY,
            AT,
            f"Orderly-Signature timestamp {int(AT.timestamp()) + 400} is 400s in the future;"
            " at most 300s is accepted: sign each delivery when it is sent",
        ),
    ],
)
def test_an_untrustworthy_signature_is_refused_with_the_reason(
    header: str | None, body: bytes, now: datetime, reason: str
) -> None:
    with pytest.raises(WebhookSignatureError) as refused:
        verify(header, body, secrets=["s3cret"], now=now, tolerance=FIVE_MINUTES)

    assert refused.value.reason == reason


def test_a_setting_lists_its_secrets_comma_separated_the_one_to_sign_with_first() -> None:
    assert split_secrets(" new-secret , old-secret ,") == ["new-secret", "old-secret"]
    assert split_secrets(" , ") == []
