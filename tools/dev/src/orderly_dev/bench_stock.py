"""``make bench-stock``: stock reservations per second, with and without contention, side by side.

The inventory service's real ``use_cases.fulfilment.reserve_stock`` runs in N concurrent units
of work (one asyncio task each, in one process, closed loop: a worker sends its
next ReserveStock as soon as its last one commits) on the inventory schema of a
PostgreSQL started the way ``make bench`` starts it. For each N, two loads are
measured back to back, so that whatever else the machine does weighs on both:

- ``disjoint``: each worker reserves SKUs no other worker touches: no transaction
  ever waits for another's row lock (the uncontended rate);
- ``hot``: every order takes from the same few SKUs: every reservation queues for
  the same stock rows, which it holds until it commits (the contended rate).

Each order is ``--lines`` SKUs, one unit each, from stock too large to run out;
every reservation must succeed, and afterwards the levels must agree with the
ledger and with the number of reservations made.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, insert, select

from orderly_dev.bench import (
    interrupt_on_sigterm,
    machine,
    run_async,
    server_version,
    stop_and_verify,
    warn_if_busy,
)
from orderly_dev.report import LatencySummary, rate, summarize
from orderly_dev.servers import Postgres, start_postgres
from orderly_inventory import use_cases
from orderly_inventory.adapters import orm
from orderly_inventory.adapters.stock import StockRepository
from orderly_inventory.bootstrap import MIGRATIONS, build
from orderly_inventory.domain.allocation import Policy
from orderly_inventory.domain.ledger import Movement, MovementKind
from orderly_inventory.domain.regions import Region, Regions
from orderly_inventory.settings import InventorySettings
from orderly_inventory.use_cases import ledger
from orderly_kit import migrations
from orderly_kit.service import Service
from orderly_schemas.base import StockLine
from orderly_schemas.checkout import Address
from orderly_schemas.inventory import ReserveStock, StockReserved

DATABASE = "orderly_bench_stock"
SCENARIOS = ("disjoint", "hot")
#: Opening stock of every level: enough that no reservation of a run is refused.
UNITS = 100_000_000
TTL = timedelta(hours=1)
WAREHOUSES = (
    {"code": "east", "name": "East", "region": "east", "priority": 1},
    {"code": "west", "name": "West", "region": "west", "priority": 2},
)
#: For the nearest policy: every order ships to Germany, which the west region serves.
REGIONS = Regions([Region("east", frozenset({"PL"})), Region("west", frozenset({"DE"}))])
SHIP_TO = Address(
    name="Bench", line1="1 Hauptstrasse", city="Berlin", postal_code="10115", country="DE"
)


@dataclass(frozen=True)
class Load:
    """What to measure: workers per step, seconds per cell, the shape of an order."""

    workers: tuple[int, ...] = (1, 8, 32)
    seconds: float = 4.0
    warmup: float = 0.5
    lines: int = 2
    hot_skus: int = 4
    policy: Policy = Policy.PRIORITY
    seed: int = 7

    def skus(self, scenario: str, worker: int) -> list[str]:
        """The SKUs a worker's orders may take in a scenario."""
        if scenario == "disjoint":
            return [f"FREE-{worker:03d}-{j}" for j in range(self.lines)]
        return [f"HOT-{j}" for j in range(self.hot_skus)]

    def every_sku(self) -> list[str]:
        most = max(self.workers)
        return sorted({sku for s in SCENARIOS for w in range(most) for sku in self.skus(s, w)})


@dataclass
class Cell:
    """One scenario at one number of workers."""

    scenario: str
    workers: int
    seconds: float  # the measured window
    reservations: int  # reservations that committed within the window
    refused: int  # answered StockReservationFailed within the window (0 expected)
    latency: LatencySummary | None  # seconds, of the reservations in the window
    driver_cpu: float  # CPU seconds of this process per wall second in the window

    @property
    def per_second(self) -> float:
        return rate(self.reservations, self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "workers": self.workers,
            "measured_seconds": round(self.seconds, 3),
            "reservations": self.reservations,
            "refused": self.refused,
            "reservations_per_second": round(self.per_second, 1),
            "latency_ms": self.latency.scaled(1000).as_dict(2) if self.latency else None,
            "driver_cpu_share": round(self.driver_cpu, 2),
        }


@dataclass
class Result:
    load: Load
    cells: list[Cell] = field(default_factory=list)
    reserved_total: int = 0  # every reservation that committed, in or out of a window
    checks: dict[str, Any] = field(default_factory=dict)

    def cell(self, scenario: str, workers: int) -> Cell | None:
        return next((c for c in self.cells if (c.scenario, c.workers) == (scenario, workers)), None)

    def side_by_side(self) -> dict[str, float | None]:
        """Contended ÷ uncontended rate per number of workers, and how each scales from 1."""
        out: dict[str, float | None] = {}
        for n in self.load.workers:
            hot, free = self.cell("hot", n), self.cell("disjoint", n)
            out[f"hot ÷ disjoint reservations/s, {n} workers"] = ratio(
                hot.per_second if hot else None, free.per_second if free else None
            )
        first = self.load.workers[0]
        for scenario in SCENARIOS:
            base = self.cell(scenario, first)
            for n in self.load.workers[1:]:
                this = self.cell(scenario, n)
                out[f"{scenario}: {n} workers ÷ {first} worker(s)"] = ratio(
                    this.per_second if this else None, base.per_second if base else None
                )
        return out


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


# --------------------------------------------------------------------------- the database


def prepare_database(postgres: Postgres) -> str:
    """A fresh database with the inventory schema; returns its SQLAlchemy URL."""
    postgres.create_database(DATABASE, drop=True)
    url = postgres.url(DATABASE)
    migrations.upgrade(MIGRATIONS, url)
    return url


async def seed(service: Service, load: Load) -> None:
    """Two warehouses, and every SKU of the run in both, through the ledger."""
    async with service.database.transaction() as s:
        await s.execute(insert(orm.warehouses), list(WAREHOUSES))
    async with service.messaging.unit_of_work() as uow:
        await ledger.move(
            uow,
            (
                Movement(
                    sku=sku,
                    warehouse=str(w["code"]),
                    kind=MovementKind.OPENING,
                    quantity=UNITS,
                    on_hand=UNITS,
                    reason="bench-stock opening stock",
                    actor="bench-stock",
                )
                for sku in load.every_sku()
                for w in WAREHOUSES
            ),
            at=datetime.now(UTC),
        )


async def check(service: Service, result: Result) -> dict[str, Any]:
    """The levels agree with the ledger, and hold exactly what the reservations took."""
    async with service.database.sessions() as s:
        discrepancies = [str(d) for d in await StockRepository(s).discrepancies()]
        total = select(func.coalesce(func.sum(orm.stock_levels.c.reserved), 0))
        reserved = int(await s.scalar(total) or 0)
    expected = result.reserved_total * result.load.lines
    return {
        "ledger_agrees_with_levels": not discrepancies,
        "discrepancies": discrepancies[:20],
        "units_reserved": reserved,
        "units_reserved_expected": expected,
        "units_reserved_match": reserved == expected,
    }


# --------------------------------------------------------------------------- the load


async def run_cell(service: Service, load: Load, scenario: str, workers: int) -> tuple[Cell, int]:
    """``workers`` closed loops of ReserveStock for warmup + seconds; (the cell, all committed)."""
    policy, regions = load.policy, REGIONS
    loop_start = time.perf_counter()
    measure_from = loop_start + load.warmup
    stop_at = measure_from + load.seconds
    latencies: list[float] = []
    refused = 0
    committed = 0
    cpu_at_start: float | None = None

    async def worker(index: int) -> None:
        nonlocal refused, committed, cpu_at_start
        rng = random.Random(f"{load.seed}-{scenario}-{workers}-{index}")
        pool = load.skus(scenario, index)
        while (started := time.perf_counter()) < stop_at:
            if cpu_at_start is None and started >= measure_from:
                cpu_at_start = time.process_time()
            skus = pool if scenario == "disjoint" else rng.sample(pool, load.lines)
            command = ReserveStock(
                order_id=uuid4(),
                lines=[StockLine(sku=sku, quantity=1) for sku in skus],
                ship_to=SHIP_TO,
            )
            async with service.messaging.unit_of_work() as uow:
                await use_cases.fulfilment.reserve_stock(
                    uow, command, ttl=TTL, policy=policy, regions=regions
                )
            ended = time.perf_counter()
            ok = any(isinstance(m, StockReserved) for m in uow.published)
            committed += ok
            if measure_from <= ended <= stop_at:
                latencies.append(ended - started)
                refused += not ok

    cpu_before = time.process_time()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    cpu_used = time.process_time() - (cpu_at_start if cpu_at_start is not None else cpu_before)
    cell = Cell(
        scenario=scenario,
        workers=workers,
        seconds=load.seconds,
        reservations=len(latencies) - refused,
        refused=refused,
        latency=summarize(latencies),
        driver_cpu=cpu_used / max(time.perf_counter() - measure_from, 1e-9),
    )
    return cell, committed


async def measure(database_url: str, load: Load, console: Console | None = None) -> Result:
    """Seed the database at ``database_url`` (migrated, empty) and measure every cell."""
    console = console or Console()
    service = build(
        InventorySettings(
            database_url=database_url, database_pool_size=max(load.workers), log_json=False
        )
    )
    result = Result(load)
    try:
        await seed(service, load)
        for workers in load.workers:
            for scenario in SCENARIOS:
                console.print(
                    f"  {scenario:<8} {workers:>3} workers: {load.warmup:g} s warm-up"
                    f" + {load.seconds:g} s"
                )
                cell, committed = await run_cell(service, load, scenario, workers)
                result.cells.append(cell)
                result.reserved_total += committed
        result.checks = await check(service, result)
    finally:
        await service.database.dispose()
    return result


# --------------------------------------------------------------------------- report


def print_report(console: Console, data: dict[str, Any]) -> None:
    t = Table(
        title=f"ReserveStock under contention ({data['settings']['lines']} SKUs per order,"
        f" policy {data['settings']['policy']})"
    )
    t.add_column("workers", justify="right")
    t.add_column("load")
    for name in ("reservations/s", "p50", "p99", "driver CPU", "hot ÷ disjoint"):
        t.add_column(name, justify="right")
    ratios = data["side_by_side"]
    hot_label = f"hot ({data['settings']['hot_skus']} SKUs)"
    for cell in data["cells"]:
        lat = cell["latency_ms"]
        n = cell["workers"]
        r = ratios.get(f"hot ÷ disjoint reservations/s, {n} workers")
        t.add_row(
            str(n),
            hot_label if cell["scenario"] == "hot" else cell["scenario"],
            f"{cell['reservations_per_second']:,.0f}",
            f"{lat['p50']:,.1f} ms" if lat else "-",
            f"{lat['p99']:,.1f} ms" if lat else "-",
            f"{cell['driver_cpu_share']:.0%}",
            "" if cell["scenario"] != "hot" or r is None else f"{r:.2f}",
        )
    console.print(t)
    s = Table(title="Side by side")
    s.add_column("comparison")
    s.add_column("value", justify="right")
    for label, value in ratios.items():
        s.add_row(label, "-" if value is None else f"{value:.2f}")
    console.print(s)
    checks = data["checks"]
    ok = checks.get("ledger_agrees_with_levels") and checks.get("units_reserved_match")
    console.print(
        Text(
            f"checks: ledger agrees with levels: {checks.get('ledger_agrees_with_levels')};"
            f" units reserved {checks.get('units_reserved')} of"
            f" {checks.get('units_reserved_expected')} expected",
            style="green" if ok else "red",
        )
    )
    console.print(
        "driver CPU: this process's CPU time per second in the window (near 100% means the"
        " Python driver, not PostgreSQL, is the limit)"
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m orderly_dev.bench_stock",
        description="Reservations per second of the inventory service's ReserveStock handler,"
        " over disjoint SKUs and over a few hot SKUs, side by side in one run.",
    )
    p.add_argument(
        "--workers",
        default="1,8,32",
        help="concurrent units of work, comma-separated (default 1,8,32)",
    )
    p.add_argument("--seconds", type=float, default=4.0, help="measured seconds per cell")
    p.add_argument("--warmup", type=float, default=0.5, help="seconds before each measurement")
    p.add_argument("--lines", type=int, default=2, help="SKUs per order (one unit each)")
    p.add_argument("--hot-skus", type=int, default=4, help="SKUs every hot order draws from")
    p.add_argument("--policy", choices=[p.value for p in Policy], default=Policy.PRIORITY.value)
    p.add_argument("--seed", type=int, default=7, help="random seed for the hot SKUs drawn")
    p.add_argument("--out", type=Path, default=Path("bench-results/stock.json"), help="JSON path")
    p.add_argument("--root", type=Path, default=None, help="data directory of the server")
    ns = p.parse_args(argv)
    try:
        ns.workers = tuple(int(w) for w in ns.workers.split(","))
    except ValueError:
        p.error(f"--workers={ns.workers!r}: give whole numbers separated by commas, e.g. 1,8,32")
    if not ns.workers or min(ns.workers) < 1 or max(ns.workers) > 200:
        p.error(f"--workers={ns.workers}: each must be between 1 and 200")
    if ns.seconds <= 0 or ns.warmup < 0:
        p.error("--seconds must be above 0 and --warmup at least 0")
    if ns.lines < 1 or ns.hot_skus < ns.lines:
        p.error(f"--lines={ns.lines} --hot-skus={ns.hot_skus}: need 1 <= lines <= hot-skus")
    return ns


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_sigterm()
    console = Console()
    load = Load(
        workers=args.workers,
        seconds=args.seconds,
        warmup=args.warmup,
        lines=args.lines,
        hot_skus=args.hot_skus,
        policy=Policy(args.policy),
        seed=args.seed,
    )
    data: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "machine": machine(),
        "settings": {
            "workers": list(load.workers),
            "seconds_per_cell": load.seconds,
            "warmup_seconds": load.warmup,
            "lines": load.lines,
            "hot_skus": load.hot_skus,
            "policy": load.policy.value,
            "seed": load.seed,
            "driver": "one Python process, one asyncio task per worker, closed loop",
        },
    }
    busy = warn_if_busy(data["machine"])
    if busy:
        console.print(Text(busy, style="yellow"))
        data["warnings"] = [busy]
    root = args.root or Path(tempfile.mkdtemp(prefix="orderly-bench-stock-"))
    root.mkdir(parents=True, exist_ok=True)
    postgres: Postgres | None = None
    exit_code = 0
    try:
        console.print("Starting PostgreSQL (embedded)…")
        postgres = start_postgres(root)
        data["postgres_version"] = server_version(postgres)
        url = prepare_database(postgres)
        console.print(f"[bold]ReserveStock[/] on database {DATABASE} (data in {root})")
        result = run_async(measure(url, load, console))
        data["cells"] = [c.as_dict() for c in result.cells]
        data["side_by_side"] = result.side_by_side()
        data["checks"] = result.checks
        checks = result.checks
        if not (checks["ledger_agrees_with_levels"] and checks["units_reserved_match"]):
            exit_code = 1
        if any(c.refused for c in result.cells):
            exit_code = 1
        print_report(console, data)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=2, default=str) + "\n")
        console.print(f"results written to {args.out}")
    except KeyboardInterrupt:
        console.print("interrupted")
        exit_code = 130
    finally:
        if postgres is not None:
            leftovers = stop_and_verify(postgres.stop, root)
            if leftovers:
                console.print(f"[red]processes outlived the stop and were killed:[/] {leftovers}")
                exit_code = exit_code or 1
            else:
                console.print("stopped; no process left behind")
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
