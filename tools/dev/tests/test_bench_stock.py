"""``make bench-stock``: the real ReserveStock handler, over disjoint and hot SKUs, side by side."""

from __future__ import annotations

import asyncio
import io
from uuid import uuid4

import pytest
from rich.console import Console

from orderly_dev.bench_stock import Cell, Load, Result, measure, parse_args, print_report
from orderly_dev.report import summarize
from orderly_dev.servers import Servers
from orderly_inventory.bootstrap import MIGRATIONS
from orderly_kit import migrations


def cell(scenario: str, workers: int, reservations: int) -> Cell:
    return Cell(scenario, workers, 2.0, reservations, 0, summarize([0.001, 0.002]), 0.5)


def test_disjoint_workers_never_share_a_sku_and_hot_workers_share_the_same_few() -> None:
    load = Load(workers=(1, 8), lines=2, hot_skus=4)

    disjoint = [set(load.skus("disjoint", w)) for w in range(8)]
    assert all(len(s) == 2 for s in disjoint)
    assert len(set().union(*disjoint)) == 16
    assert {frozenset(load.skus("hot", w)) for w in range(8)} == {
        frozenset({"HOT-0", "HOT-1", "HOT-2", "HOT-3"})
    }


def test_side_by_side_divides_the_contended_rate_by_the_uncontended_one() -> None:
    result = Result(Load(workers=(1, 8)))
    result.cells = [cell("disjoint", 1, 200), cell("hot", 1, 200)]
    result.cells += [cell("disjoint", 8, 800), cell("hot", 8, 100)]

    assert result.side_by_side() == {
        "hot ÷ disjoint reservations/s, 1 workers": 1.0,
        "hot ÷ disjoint reservations/s, 8 workers": 0.125,
        "disjoint: 8 workers ÷ 1 worker(s)": 4.0,
        "hot: 8 workers ÷ 1 worker(s)": 0.5,
    }
    assert cell("hot", 8, 100).as_dict()["reservations_per_second"] == 50.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "1,x"], "--workers='1,x': give whole numbers"),
        (["--workers", "0,8"], "each must be between 1 and 200"),
        (["--lines", "5", "--hot-skus", "4"], "need 1 <= lines <= hot-skus"),
        (["--policy", "closest"], "invalid choice: 'closest'"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)

    assert message in capsys.readouterr().err


def test_the_defaults_measure_one_eight_and_thirty_two_workers() -> None:
    args = parse_args([])

    assert (args.workers, args.seconds, args.policy) == ((1, 8, 32), 4.0, "priority")


@pytest.mark.slow
async def test_each_load_is_measured_side_by_side_and_the_ledger_still_agrees(
    servers: Servers,
) -> None:
    name = f"t_{uuid4().hex[:12]}"
    servers.postgres.create_database(name)
    url = servers.postgres.url(name)
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, url)
    out = io.StringIO()
    load = Load(workers=(1, 4), seconds=0.4, warmup=0.1)

    result = await measure(url, load, Console(file=out))

    assert [(c.scenario, c.workers) for c in result.cells] == [
        ("disjoint", 1),
        ("hot", 1),
        ("disjoint", 4),
        ("hot", 4),
    ]
    assert all(c.reservations > 0 and c.refused == 0 for c in result.cells)
    assert result.checks["ledger_agrees_with_levels"], result.checks["discrepancies"]
    assert result.checks["units_reserved"] == result.reserved_total * 2 > 0
    ratios = result.side_by_side()
    assert ratios["hot ÷ disjoint reservations/s, 4 workers"] is not None
    data = {
        "settings": {"lines": 2, "policy": "priority", "hot_skus": 4},
        "cells": [c.as_dict() for c in result.cells],
        "side_by_side": ratios,
        "checks": result.checks,
    }
    print_report(Console(file=out, width=160), data)
    assert "hot ÷ disjoint reservations/s, 4 workers" in out.getvalue()
