"""``make bench-startup``: how long a (re)started service takes to serve and to consume.

The six services start on one embedded PostgreSQL and Tansu broker, as ``make run``
starts them; then, for each scenario, all six are stopped the given way and started
again at the same moment, and for each process this measures, from its start:

- ``api``: the first 200 from ``/health/ready`` (the HTTP API serves);
- ``consumers``: the first 200 from ``/health/consumers`` (every group assigned),
  with each group's own time from ``assigned_after_seconds``.

Scenarios: ``fresh`` (new groups), ``sigterm`` (a clean stop: the consumers leave
their groups), ``sigkill`` (no goodbye: the old members stay until their session
times out). The table and a JSON file (``--out``) hold every figure.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from orderly_dev.bench import machine
from orderly_dev.servers import start_servers
from orderly_dev.stack import SERVICES, ServiceProcess, Stack

SCENARIOS = ("fresh", "sigterm", "sigkill")


def measure_start(processes: Sequence[ServiceProcess], timeout: float) -> dict[str, Any]:
    """Start every process at once; poll until each serves and has every group assigned."""
    began = time.monotonic()
    for proc in processes:
        proc.start()
    api: dict[str, float] = {}
    consumers: dict[str, float] = {}
    groups: dict[str, dict[str, float | None]] = {}
    with httpx.Client(timeout=1.0) as client:
        while len(consumers) < len(processes):
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"not every group assigned after {timeout}s: {groups}")
            for proc in processes:
                name = proc.spec.name
                if name in consumers:
                    continue
                try:
                    if name not in api and client.get(f"{proc.url}/health/ready").is_success:
                        api[name] = time.monotonic() - began
                    r = client.get(f"{proc.url}/health/consumers")
                except httpx.HTTPError:
                    continue
                groups[name] = {g["group"]: g["assigned_after_seconds"] for g in r.json()["groups"]}
                if r.is_success:
                    consumers[name] = time.monotonic() - began
            time.sleep(0.05)
    return {
        name: {"api_seconds": api.get(name), "consumers_seconds": consumers[name], "groups": g}
        for name, g in groups.items()
    }


def run(rounds: int, timeout: float, session_timeout_ms: int | None) -> dict[str, Any]:
    settings = {
        name: {f"{spec.env_prefix}KAFKA_SESSION_TIMEOUT_MS": str(session_timeout_ms)}
        for name, spec in SERVICES.items()
        if session_timeout_ms is not None
    }
    servers = start_servers(Path(tempfile.mkdtemp(prefix="orderly-startup-")))
    stack = Stack(servers=servers, partitions=4, settings=settings)
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in SCENARIOS}
    try:
        stack.prepare()
        procs = [stack.process(name) for name in SERVICES]
        results["fresh"].append(measure_start(procs, timeout))
        for _ in range(rounds):
            for scenario, sig in (("sigterm", signal.SIGTERM), ("sigkill", signal.SIGKILL)):
                for proc in procs:
                    proc.kill(sig)
                    proc.stop()  # closes the log; the process is gone already
                results[scenario].append(measure_start(procs, timeout))
    finally:
        stack.stop()
    return {
        "machine": machine(),
        "session_timeout_ms": session_timeout_ms,
        "rounds": rounds,
        "results": results,
    }


def summary(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for scenario, runs in data["results"].items():
        for name in SERVICES:
            api = [r[name]["api_seconds"] for r in runs if r[name]["api_seconds"] is not None]
            cons = [r[name]["consumers_seconds"] for r in runs]
            rows.append(
                {
                    "scenario": scenario,
                    "service": name,
                    "runs": len(runs),
                    "api_median": statistics.median(api) if api else None,
                    "api_max": max(api) if api else None,
                    "consumers_median": statistics.median(cons),
                    "consumers_max": max(cons),
                }
            )
    return rows


def render(data: dict[str, Any], console: Console) -> None:
    table = Table(title="From process start: API serving, every consumer group assigned (s)")
    for col in ("scenario", "service", "runs", "API p50", "API max", "groups p50", "groups max"):
        table.add_column(col, justify="right" if col not in ("scenario", "service") else "left")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for row in data["summary"]:
        table.add_row(
            row["scenario"],
            row["service"],
            str(row["runs"]),
            fmt(row["api_median"]),
            fmt(row["api_max"]),
            fmt(row["consumers_median"]),
            fmt(row["consumers_max"]),
        )
    console.print(table)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench-startup", description=__doc__)
    p.add_argument("--rounds", type=int, default=2, help="SIGTERM and SIGKILL restarts each")
    p.add_argument("--timeout", type=float, default=180.0, help="give up on one start after")
    p.add_argument(
        "--session-timeout-ms",
        type=int,
        default=None,
        help="the services' KAFKA_SESSION_TIMEOUT_MS (default: the local stack's, 6000)",
    )
    p.add_argument("--out", type=Path, default=Path("bench-results/startup.json"), help="JSON path")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data = run(args.rounds, args.timeout, args.session_timeout_ms)
    data["summary"] = summary(data)
    render(data, Console())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
