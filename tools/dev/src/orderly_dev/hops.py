"""Where a saga's time goes: each hop from a message to the message it caused.

Every message carries the CloudEvents time its producer's transaction wrote it at
(``ce_time``), the id of the message that caused it (``orderly_causationid``) and the
broker timestamp the relay published it at. For a message M caused by C:

- *waited* = M's ce_time - C's publish time: C queued in the consumer's backlog, then
  the handler's transaction (everything between the broker and the decision);
- *relayed* = M's publish time - M's ce_time: the outbox row waited for its relay.

A hop whose wait grows with load names the service that does not keep up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orderly_dev.report import LatencySummary, summarize
from orderly_schemas.cloudevents import CAUSATION_ID, ID, TIME, TYPE


@dataclass(frozen=True)
class Sent:
    """One message as the broker holds it, with what the hops need."""

    id: str
    type: str
    cause: str | None
    written_at: float  # ce_time, seconds since the epoch
    published_at: float  # the broker record's timestamp

    @classmethod
    def from_record(cls, headers: Iterable[tuple[str, bytes]], timestamp_ms: int) -> Sent | None:
        """The message of a Kafka record, or None for one without CloudEvents headers."""
        h = {k: v.decode(errors="replace") for k, v in headers}
        if ID not in h or TYPE not in h or TIME not in h:
            return None
        written = datetime.fromisoformat(h[TIME].replace("Z", "+00:00")).timestamp()
        return cls(h[ID], h[TYPE], h.get(CAUSATION_ID), written, timestamp_ms / 1000)


@dataclass(frozen=True)
class Hop:
    """The messages of type ``effect`` caused by messages of type ``cause``."""

    cause: str
    effect: str
    waited: LatencySummary  # milliseconds
    relayed: LatencySummary  # milliseconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "effect": self.effect,
            "waited_ms": self.waited.as_dict(),
            "relayed_ms": self.relayed.as_dict(),
        }


def hops(messages: Iterable[Sent]) -> list[Hop]:
    """Each (cause type, effect type) pair with its wait and relay times, busiest first."""
    by_id = {m.id: m for m in messages}
    waited: dict[tuple[str, str], list[float]] = defaultdict(list)
    relayed: dict[tuple[str, str], list[float]] = defaultdict(list)
    for m in by_id.values():
        cause = by_id.get(m.cause) if m.cause else None
        if cause is None:
            continue
        key = (cause.type, m.type)
        waited[key].append(max(0.0, m.written_at - cause.published_at) * 1000)
        relayed[key].append(max(0.0, m.published_at - m.written_at) * 1000)
    found = []
    for (cause_type, effect_type), values in waited.items():
        w = summarize(values)
        r = summarize(relayed[(cause_type, effect_type)])
        assert w is not None
        assert r is not None
        found.append(Hop(cause_type, effect_type, w, r))
    return sorted(found, key=lambda h: h.waited.p50 + h.relayed.p50, reverse=True)
