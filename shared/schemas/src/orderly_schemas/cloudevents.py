"""CloudEvents 1.0 attributes in Kafka headers (binary content mode).

The Kafka value is the JSON of the pydantic model; the event's metadata travels
in headers named ``ce_<attribute>``. Two extension attributes tie a saga
together: ``ce_correlationid`` (the order) and ``ce_causationid`` (the id of
the message that caused this one). ``traceparent`` carries the W3C trace context.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from uuid import uuid4

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"

ID: Final = "ce_id"
TYPE: Final = "ce_type"
SOURCE: Final = "ce_source"
SPECVERSION: Final = "ce_specversion"
TIME: Final = "ce_time"
SUBJECT: Final = "ce_subject"
CORRELATION_ID: Final = "ce_correlationid"
CAUSATION_ID: Final = "ce_causationid"
TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
CONTENT_TYPE_HEADER: Final = "content-type"

REQUIRED: Final = (ID, TYPE, SOURCE, SPECVERSION)


class MissingHeaderError(ValueError):
    """A message lacks a required CloudEvents header."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """The CloudEvents attributes of one message."""

    type: str
    source: str
    id: str = field(default_factory=lambda: str(uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None

    def __post_init__(self) -> None:
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError("Envelope.time must be timezone-aware")

    def to_headers(self) -> dict[str, str]:
        """The Kafka headers of this envelope."""
        headers = {
            ID: self.id,
            TYPE: self.type,
            SOURCE: self.source,
            SPECVERSION: SPEC_VERSION,
            TIME: self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            CONTENT_TYPE_HEADER: CONTENT_TYPE,
        }
        optional = {
            SUBJECT: self.subject,
            CORRELATION_ID: self.correlation_id,
            CAUSATION_ID: self.causation_id,
            TRACEPARENT: self.traceparent,
            TRACESTATE: self.tracestate,
        }
        headers.update({k: v for k, v in optional.items() if v})
        return headers

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]]
    ) -> Envelope:
        """Read an envelope from Kafka headers; raises MissingHeaderError naming the header."""
        items = headers.items() if isinstance(headers, Mapping) else headers
        h = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in items}
        for name in REQUIRED:
            if not h.get(name):
                raise MissingHeaderError(f"header {name!r} is missing or empty")
        if h[SPECVERSION] != SPEC_VERSION:
            raise MissingHeaderError(
                f"header {SPECVERSION!r} is {h[SPECVERSION]!r}; only {SPEC_VERSION!r} is supported"
            )
        raw_time = h.get(TIME)
        try:
            time = (
                datetime.fromisoformat(raw_time.replace("Z", "+00:00"))
                if raw_time
                else datetime.now(UTC)
            )
        except ValueError:
            raise MissingHeaderError(f"header {TIME!r} is not RFC 3339: {raw_time!r}") from None
        if time.tzinfo is None:
            raise MissingHeaderError(f"header {TIME!r} has no UTC offset: {raw_time!r}")
        return cls(
            id=h[ID],
            type=h[TYPE],
            source=h[SOURCE],
            time=time,
            subject=h.get(SUBJECT),
            correlation_id=h.get(CORRELATION_ID),
            causation_id=h.get(CAUSATION_ID),
            traceparent=h.get(TRACEPARENT),
            tracestate=h.get(TRACESTATE),
        )
