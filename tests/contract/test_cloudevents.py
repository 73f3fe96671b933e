"""CloudEvents 1.0 attributes travel in Kafka headers (binary mode) and come back intact."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from orderly_schemas import Envelope, cloudevents
from orderly_schemas.cloudevents import MissingHeaderError

# RFC 3339 date-time in UTC, as the CloudEvents ``time`` attribute requires.
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def envelope() -> Envelope:
    return Envelope(
        type="OrderConfirmed",
        source="/orderly/order",
        id="9a1c7e52-0d7b-4c55-a7a1-5c3f0b2e4d11",
        time=datetime(2026, 3, 14, 9, 27, 53, 589_000, tzinfo=UTC),
        subject="0b6f3c1e-5d7a-4f0e-9a51-2c8d4e6f7a90",
        correlation_id="0b6f3c1e-5d7a-4f0e-9a51-2c8d4e6f7a90",
        causation_id="4e0d2b9a-1f3c-4a5e-8b7d-6c5b4a392817",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )


def test_the_headers_carry_the_required_cloudevents_attributes() -> None:
    headers = envelope().to_headers()

    assert headers["ce_id"] == "9a1c7e52-0d7b-4c55-a7a1-5c3f0b2e4d11"
    assert headers["ce_type"] == "OrderConfirmed"
    assert headers["ce_source"] == "/orderly/order"
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_time"] == "2026-03-14T09:27:53.589000Z"
    assert headers["content-type"] == "application/json"


def test_the_headers_carry_the_saga_extensions_and_trace_context() -> None:
    headers = envelope().to_headers()

    assert headers["ce_subject"] == "0b6f3c1e-5d7a-4f0e-9a51-2c8d4e6f7a90"
    assert headers["ce_correlationid"] == "0b6f3c1e-5d7a-4f0e-9a51-2c8d4e6f7a90"
    assert headers["ce_causationid"] == "4e0d2b9a-1f3c-4a5e-8b7d-6c5b4a392817"
    assert headers["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_fresh_envelope_has_an_id_and_an_rfc3339_utc_time() -> None:
    headers = Envelope(type="OrderPlaced", source="/checkout").to_headers()

    assert headers["ce_id"]
    assert RFC3339_UTC.match(headers["ce_time"]), headers["ce_time"]


def test_unset_optional_attributes_are_left_out_of_the_headers() -> None:
    headers = Envelope(type="OrderPlaced", source="/checkout").to_headers()

    assert set(headers) == {
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_specversion",
        "ce_time",
        "content-type",
    }


def test_an_envelope_survives_its_headers() -> None:
    original = envelope()

    assert Envelope.from_headers(original.to_headers()) == original


def test_an_envelope_survives_kafka_headers_as_a_list_of_byte_values() -> None:
    original = envelope()
    kafka_headers = [(name, value.encode()) for name, value in original.to_headers().items()]

    assert Envelope.from_headers(kafka_headers) == original


@pytest.mark.parametrize("header", cloudevents.REQUIRED)
def test_a_missing_required_header_is_named(header: str) -> None:
    headers = envelope().to_headers()
    del headers[header]

    with pytest.raises(MissingHeaderError, match=header):
        Envelope.from_headers(headers)


@pytest.mark.parametrize("header", cloudevents.REQUIRED)
def test_an_empty_required_header_is_named(header: str) -> None:
    headers = {name: value.encode() for name, value in envelope().to_headers().items()}
    headers[header] = b""

    with pytest.raises(MissingHeaderError, match=header):
        Envelope.from_headers(headers)


def test_another_specversion_is_refused() -> None:
    headers = envelope().to_headers() | {"ce_specversion": "0.3"}

    with pytest.raises(MissingHeaderError, match="ce_specversion"):
        Envelope.from_headers(headers)


def test_a_time_that_is_not_rfc3339_is_refused() -> None:
    headers = envelope().to_headers() | {"ce_time": "14/03/2026 09:27"}

    with pytest.raises(MissingHeaderError, match="ce_time"):
        Envelope.from_headers(headers)
