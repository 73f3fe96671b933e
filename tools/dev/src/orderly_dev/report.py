"""Numbers shared by the demo and the benchmark: percentiles, outcomes, rates (no I/O)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

#: Final states in the order a summary lists them.
FINAL_STATES = ("Completed", "Rejected", "Cancelled", "unfinished")


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolating linearly between closest ranks.

    The same definition as numpy's default and ``statistics.quantiles(method="inclusive")``:
    p50 of 1..100 is 50.5, p0 is the minimum, p100 the maximum.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q={q}: must be between 0 and 100")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values: measure at least one")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class LatencySummary:
    """Count, mean, p50/p95/p99 and max of a set of durations (in the unit given)."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    def scaled(self, factor: float) -> LatencySummary:
        """The same summary in another unit (e.g. ``1000`` for seconds to milliseconds)."""
        return LatencySummary(
            count=self.count,
            mean=self.mean * factor,
            p50=self.p50 * factor,
            p95=self.p95 * factor,
            p99=self.p99 * factor,
            max=self.max * factor,
        )

    def as_dict(self, digits: int = 1) -> dict[str, float | int]:
        return {
            k: (round(v, digits) if isinstance(v, float) else v) for k, v in asdict(self).items()
        }


def summarize(values: Iterable[float]) -> LatencySummary | None:
    """The summary of ``values``, or None when there is nothing to summarize."""
    data = sorted(values)
    if not data:
        return None
    return LatencySummary(
        count=len(data),
        mean=sum(data) / len(data),
        p50=percentile(data, 50),
        p95=percentile(data, 95),
        p99=percentile(data, 99),
        max=data[-1],
    )


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 when no time passed (nothing can be claimed)."""
    return count / seconds if seconds > 0 else 0.0


def count_between(times: Iterable[float], start: float, end: float) -> int:
    """How many of ``times`` fall in the half-open window [start, end)."""
    return sum(1 for t in times if start <= t < end)


def open_loop_schedule(t0: float, rate_per_second: float, count: int) -> list[float]:
    """Intended send times t0 + i/rate: fixed in advance, whatever the system answers."""
    if rate_per_second <= 0:
        raise ValueError(f"rate={rate_per_second}: must be above 0 orders per second")
    return [t0 + i / rate_per_second for i in range(count)]


def evenly_chosen(count: int, share: float) -> list[bool]:
    """Marks ``round(count * share)`` of ``count`` items, spread evenly (deterministic)."""
    if not 0 <= share <= 1:
        raise ValueError(f"share={share}: must be between 0 and 1")
    return [math.floor((i + 1) * share + 0.5) > math.floor(i * share + 0.5) for i in range(count)]


def final_state(event_type: str | None) -> str:
    """'OrderCompleted' -> 'Completed'; None (no terminal event yet) -> 'unfinished'."""
    if event_type is None:
        return "unfinished"
    return event_type.removeprefix("Order")


@dataclass
class Outcomes(Generic[K]):
    """Orders by final state, and those whose final state is not the expected one."""

    by_state: Counter[str] = field(default_factory=Counter)
    unexpected: dict[K, tuple[str, str]] = field(default_factory=dict)  # key -> (want, got)

    @property
    def ok(self) -> bool:
        return not self.unexpected

    def counts(self) -> dict[str, int]:
        """Every final state (zero included) in summary order, then any other state seen."""
        out = {s: self.by_state.get(s, 0) for s in FINAL_STATES}
        out.update({s: n for s, n in self.by_state.items() if s not in out})
        return out


def tally(expected: Mapping[K, str], final: Mapping[K, str | None]) -> Outcomes[K]:
    """Compare each order's final state with the expected one ('Completed', 'Rejected', ...)."""
    out: Outcomes[K] = Outcomes()
    for key, want in expected.items():
        got = final_state(final.get(key))
        out.by_state[got] += 1
        if got != want:
            out.unexpected[key] = (want, got)
    return out


def durations(start: Mapping[K, float], end: Mapping[K, float | None]) -> list[float]:
    """end - start for every key present in both (None ends are skipped)."""
    out = []
    for key, t0 in start.items():
        t1 = end.get(key)
        if t1 is not None:
            out.append(t1 - t0)
    return out


def fmt_ms(summary: LatencySummary | None, what: str = "p50") -> str:
    """One figure of a seconds-based summary, in milliseconds, or '-' when missing."""
    if summary is None:
        return "-"
    return f"{getattr(summary, what) * 1000:,.0f} ms"


def latency_table_rows(
    named: Sequence[tuple[str, LatencySummary | None]],
) -> list[tuple[str, str, str, str, str, str]]:
    """Rows of (name, n, p50, p95, p99, max) for a table of latencies in seconds."""
    rows = []
    for name, s in named:
        n = str(s.count) if s else "0"
        rows.append(
            (name, n, fmt_ms(s, "p50"), fmt_ms(s, "p95"), fmt_ms(s, "p99"), fmt_ms(s, "max"))
        )
    return rows
