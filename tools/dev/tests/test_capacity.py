"""The --find-max sweep: which rates it tries, which it calls held, and its chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderly_dev.capacity import Point, capacity, draw, sweep


def point(offered: float, p99: float | None, *, unfinished: int = 0, done: float = 0) -> Point:
    return Point(offered, done or offered, p99 and p99 / 2, p99, unfinished, unfinished, {"x": 1})


def suite_like(offered: float, p99: float) -> Point:
    """A suite that holds up to 10/s: latency explodes past it."""
    return point(offered, p99 if offered <= 10 else 30_000.0)


async def test_the_sweep_raises_the_rate_until_one_is_not_held_then_tries_halfway() -> None:
    tried: list[float] = []

    async def run(rate: float) -> Point:
        tried.append(rate)
        return suite_like(rate, 500.0)

    points = await sweep(run, start=4, factor=1.5)

    assert tried == [4, 6, 9, 13.5, 11.2]
    assert [p.offered for p in points] == [4, 6, 9, 11.2, 13.5]  # in order of rate
    assert capacity(points) == 9


async def test_no_halfway_point_when_the_failed_rate_left_sagas_unfinished() -> None:
    async def run(rate: float) -> Point:
        return point(rate, 500.0) if rate < 5 else point(rate, None, unfinished=40)

    points = await sweep(run, start=4, factor=1.5)

    assert [p.offered for p in points] == [4, 6]
    assert capacity(points) == 4


async def test_the_sweep_stops_after_its_last_point() -> None:
    async def run(rate: float) -> Point:
        return point(rate, 100.0)

    points = await sweep(run, start=1, factor=2, max_points=3)

    assert [p.offered for p in points] == [1, 2, 4]


async def test_a_sweep_needs_a_rising_rate() -> None:
    async def run(rate: float) -> Point:
        raise AssertionError("never run")

    with pytest.raises(ValueError, match="factor above 1"):
        await sweep(run, start=1, factor=1)


def test_a_rate_is_held_only_if_every_saga_completed_within_the_latency_limit() -> None:
    assert point(5, 1_999.0).held()
    assert not point(5, 2_001.0).held()
    assert not point(5, 100.0, unfinished=1).held()
    assert not point(5, None).held()
    assert capacity([point(5, 3_000.0)]) is None


def test_the_chart_is_a_png_with_the_curve(tmp_path: Path) -> None:
    path = draw([point(4, 300.0), point(8, 900.0), point(12, 9_000.0, done=9)], tmp_path / "c.png")

    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000  # axes, two curves and a legend, not an empty canvas
