"""How fast the suite goes: a sweep of offered rates, the highest one it holds, and its chart.

A rate is *held* when every saga of the run finished, none ended other than completed,
and placed→shipped p99 stayed within the limit (the issue's 2 s). The sweep starts low
and multiplies the rate until a rate is not held, then tries once halfway back; the
capacity is the highest rate held. Every point is a full ``make bench`` load on the
same running suite, one after the other, each drained before the next.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: placed→shipped p99 a held rate stays within (issue 10: 2 s)
P99_LIMIT_MS = 2_000.0


@dataclass(frozen=True)
class Point:
    """One offered rate and what the suite did with it."""

    offered: float
    completed_per_second: float
    shipped_p50_ms: float | None
    shipped_p99_ms: float | None
    unfinished: int
    not_completed: int
    cpu_share: dict[str, float]

    @classmethod
    def from_suite(cls, suite: dict[str, Any]) -> Point:
        shipped = suite.get("placed_to_shipped_ms") or {}
        return cls(
            offered=float(suite["offered_rate_per_second"]),
            completed_per_second=float(suite["completed_per_second"]),
            shipped_p50_ms=shipped.get("p50"),
            shipped_p99_ms=shipped.get("p99"),
            unfinished=int(suite["final_states"].get("unfinished", 0)),
            not_completed=int(suite["not_completed"]),
            cpu_share=dict(suite.get("cpu_share_of_one_core") or {}),
        )

    def held(self, p99_limit_ms: float = P99_LIMIT_MS) -> bool:
        """Every saga completed, and placed→shipped p99 within the limit."""
        return (
            self.unfinished == 0
            and self.not_completed == 0
            and self.shipped_p99_ms is not None
            and self.shipped_p99_ms <= p99_limit_ms
        )

    def as_dict(self, p99_limit_ms: float = P99_LIMIT_MS) -> dict[str, Any]:
        return {**asdict(self), "held": self.held(p99_limit_ms)}


def capacity(points: Sequence[Point], p99_limit_ms: float = P99_LIMIT_MS) -> float | None:
    """The highest offered rate held, or None when none was."""
    held = [p.offered for p in points if p.held(p99_limit_ms)]
    return max(held) if held else None


async def sweep(
    run_point: Callable[[float], Awaitable[Point]],
    *,
    start: float,
    factor: float = 1.5,
    max_points: int = 6,
    p99_limit_ms: float = P99_LIMIT_MS,
) -> list[Point]:
    """Raise the rate by ``factor`` until one is not held, then try once halfway back.

    The halfway point runs only when the failed point drained completely, so that its
    backlog does not count against the next one.
    """
    if start <= 0 or factor <= 1 or max_points < 1:
        raise ValueError("start must be above 0, factor above 1 and max_points at least 1")
    points: list[Point] = []
    rate = start
    while len(points) < max_points:
        point = await run_point(rate)
        points.append(point)
        if not point.held(p99_limit_ms):
            break
        rate = round(rate * factor, 1)
    if (
        len(points) >= 2
        and len(points) < max_points
        and not points[-1].held(p99_limit_ms)
        and points[-1].unfinished == 0
    ):
        between = round((points[-2].offered + points[-1].offered) / 2, 1)
        if points[-2].offered < between < points[-1].offered:
            points.append(await run_point(between))
    return sorted(points, key=lambda p: p.offered)


def draw(points: Sequence[Point], path: Path, *, p99_limit_ms: float = P99_LIMIT_MS) -> Path:
    """The curve as a PNG: completed/s against offered, and placed→shipped p50/p99."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    ordered = sorted(points, key=lambda p: p.offered)
    offered = [p.offered for p in ordered]
    fig, rate_axis = plt.subplots(figsize=(8, 4.5), dpi=120)
    rate_axis.plot(offered, offered, linestyle=":", color="grey", label="offered")
    rate_axis.plot(
        offered,
        [p.completed_per_second for p in ordered],
        marker="o",
        color="tab:blue",
        label="completed sagas/s",
    )
    rate_axis.set_xlabel("offered OrderPlaced per second")
    rate_axis.set_ylabel("completed sagas per second")
    latency_axis = rate_axis.twinx()
    for attr, style, label in (
        ("shipped_p50_ms", "--", "placed→shipped p50"),
        ("shipped_p99_ms", "-", "placed→shipped p99"),
    ):
        xs = [p.offered for p in ordered if getattr(p, attr) is not None]
        ys = [getattr(p, attr) / 1000 for p in ordered if getattr(p, attr) is not None]
        latency_axis.plot(xs, ys, linestyle=style, marker="x", color="tab:red", label=label)
    latency_axis.axhline(p99_limit_ms / 1000, color="tab:red", linewidth=0.5, alpha=0.5)
    latency_axis.set_yscale("log")
    latency_axis.set_ylabel("seconds (log)")
    found = capacity(ordered, p99_limit_ms)
    if found is not None:
        rate_axis.axvline(found, color="tab:green", linewidth=1, label=f"capacity {found:g}/s")
    handles = rate_axis.get_legend_handles_labels()
    more = latency_axis.get_legend_handles_labels()
    rate_axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)
    rate_axis.set_title("make bench --find-max: the suite on this machine")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
