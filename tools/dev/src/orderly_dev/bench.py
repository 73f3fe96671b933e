"""``make bench``: open-loop saga load through the suite, beside the raw limits of its servers.

One run, one set of servers: the stack starts (PostgreSQL, Tansu, six services);
while the services idle, pgbench measures the PostgreSQL server and aiokafka
measures the broker; then OrderPlaced events are sent at a fixed rate, each at
its scheduled time whatever the suite answers (open loop: latencies count from
the intended send time, so a slow suite cannot hide its queueing delay).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4

import psutil
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orderly_dev import capacity as capacity_mod
from orderly_dev.checkout import Checkout, headers_for, make_order
from orderly_dev.cost import (
    CpuMeter,
    Measured,
    Profiler,
    ProfileSummary,
    interesting,
    per_unit_ms,
    py_spy,
    summarize_profile,
)
from orderly_dev.hops import Hop, Sent, hops
from orderly_dev.report import (
    LatencySummary,
    count_between,
    durations,
    open_loop_schedule,
    rate,
    summarize,
    tally,
)
from orderly_dev.servers import Postgres, Servers, start_servers
from orderly_dev.stack import SERVICES, Stack, database_name
from orderly_dev.statements import StatementStats, read_statements, reset_statements
from orderly_dev.watch import OrderWatcher
from orderly_kit.topics_admin import all_topics_with_dead_letters, ensure_topics
from orderly_schemas.checkout import OrderPlaced

#: Short delays so that a saga completes within seconds (delivery 1 s, auto-confirm 2 s).
FAST_SETTINGS: dict[str, dict[str, str]] = {
    "order": {"ORDER_AUTO_COMPLETE_AFTER_SECONDS": "2"},
    "inventory": {"INVENTORY_DELIVERY_DELAY_SECONDS": "1"},
}

PGBENCH_DATABASE = "orderly_pgbench"

T = TypeVar("T")

#: Stop waiting for sagas when none has finished for this long.
STALL_SECONDS = 60.0


# --------------------------------------------------------------------------- open-loop driver


@dataclass
class OpenLoopRun:
    """What the driver did: intended send times (wall clock) and how late it really sent."""

    intended: dict[UUID, float]
    started_at: float
    finished_at: float
    acked_at: dict[UUID, float]
    max_lag: float  # worst delay between an intended send time and the actual send
    errors: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return len(self.intended)


class Placer(Protocol):
    """What the driver needs of a checkout (``Checkout`` in real runs)."""

    sent_at: dict[UUID, float]

    async def place(self, order: OrderPlaced) -> None: ...


async def drive_open_loop(
    checkout: Placer,
    order_ids: Sequence[UUID],
    rate_per_second: float,
    build: Callable[[int, UUID], OrderPlaced],
    *,
    on_sent: Callable[[int], None] | None = None,
) -> OpenLoopRun:
    """Send order ``i`` at t0 + i/rate, without waiting for earlier sends or sagas to finish."""
    offsets = open_loop_schedule(0.0, rate_per_second, len(order_ids))
    wall0, mono0 = time.time(), time.monotonic()
    intended: dict[UUID, float] = {}
    tasks: list[asyncio.Task[None]] = []
    max_lag = 0.0
    for i, (order_id, offset) in enumerate(zip(order_ids, offsets, strict=True)):
        delay = mono0 + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        max_lag = max(max_lag, -delay)
        intended[order_id] = wall0 + offset
        # The order is built at its send time, so that placed_at is the real moment of placing.
        tasks.append(asyncio.create_task(checkout.place(build(i, order_id))))
        if on_sent:
            on_sent(i + 1)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    acked = {oid: t for oid, t in checkout.sent_at.items() if oid in intended}
    return OpenLoopRun(intended, wall0, time.time(), acked, max_lag, errors)


async def wait_for_ends(
    watcher: OrderWatcher,
    order_ids: Sequence[UUID],
    *,
    limit_seconds: float,
    stall_seconds: float = STALL_SECONDS,
    progress: Callable[[int], None] | None = None,
) -> dict[UUID, str | None]:
    """Each order's end event (None: not ended), once all ended or waiting stopped paying off.

    Gives up after ``limit_seconds``, or sooner when no order has ended for
    ``stall_seconds``: a stuck saga stays stuck, a slow suite keeps finishing orders.
    """
    started = time.monotonic()
    last_count, last_change = -1, started
    while True:
        ends = {oid: watcher.terminal(oid) for oid in order_ids}
        count = sum(1 for end in ends.values() if end)
        if progress:
            progress(count)
        now = time.monotonic()
        if count != last_count:
            last_count, last_change = count, now
        if (
            count == len(order_ids)
            or now - started >= limit_seconds
            or now - last_change >= stall_seconds
        ):
            return ends
        await asyncio.sleep(0.25)


# --------------------------------------------------------------------------- raw broker


@dataclass
class BrokerResult:
    """Raw produce and consume rates of the broker for OrderPlaced-sized messages."""

    messages: int
    value_bytes: int  # mean size of a message value (an OrderPlaced JSON)
    header_bytes: int  # mean size of its CloudEvents headers
    partitions: int
    produce_seconds: float
    consume_seconds: float
    consumed: int  # records read back (at least ``messages``)

    @property
    def produce_per_second(self) -> float:
        return rate(self.messages, self.produce_seconds)

    @property
    def consume_per_second(self) -> float:
        return rate(self.messages, self.consume_seconds)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "produce_msgs_per_second": round(self.produce_per_second, 1),
            "consume_msgs_per_second": round(self.consume_per_second, 1),
            "producer": "aiokafka, acks=all, linger_ms=2, no idempotence (as the suite)",
        }


async def measure_broker(
    bootstrap: str, *, messages: int, partitions: int, limit_seconds: float = 300.0
) -> BrokerResult:
    """Produce ``messages`` OrderPlaced-sized messages to a scratch topic, then consume them."""
    if messages < 1:
        raise ValueError(f"messages={messages}: measure at least one message")
    topic = f"bench.scratch.{uuid4().hex[:8]}"
    await ensure_topics(bootstrap, partitions=partitions, topics=[topic])
    rng = random.Random(7)
    samples = [make_order(rng) for _ in range(min(messages, 200))]
    payloads = [
        (str(o.order_id).encode(), o.model_dump_json().encode(), headers_for(o)) for o in samples
    ]
    value_bytes = sum(len(v) for _, v, _ in payloads) // len(payloads)
    header_bytes = sum(len(k) + len(v) for _, _, h in payloads for k, v in h) // len(payloads)
    try:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=2
        )
        await producer.start()
        try:
            await producer.partitions_for(topic)  # metadata before the clock starts
            started = time.perf_counter()
            futures = []
            for i in range(messages):
                key, value, headers = payloads[i % len(payloads)]
                futures.append(await producer.send(topic, value, key=key, headers=headers))
            await asyncio.wait_for(asyncio.gather(*futures), limit_seconds)
            produce_seconds = time.perf_counter() - started
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            await consumer.topics()
            tps = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            received = 0
            started = time.perf_counter()
            deadline = started + limit_seconds
            while received < messages:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"consumed {received} of {messages} in {limit_seconds}s")
                batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
                received += sum(len(records) for records in batch.values())
            consume_seconds = time.perf_counter() - started
        finally:
            await consumer.stop()
    finally:
        await delete_topic(bootstrap, topic)
    return BrokerResult(
        messages=messages,
        value_bytes=value_bytes,
        header_bytes=header_bytes,
        partitions=partitions,
        produce_seconds=produce_seconds,
        consume_seconds=consume_seconds,
        consumed=received,
    )


async def delete_topic(bootstrap: str, topic: str) -> None:
    """Best effort: the scratch topic should not linger in the broker's memory."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    with contextlib.suppress(Exception):
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()


@dataclass
class MessageCount:
    """Messages per topic, and per key for the keys asked about."""

    by_topic: dict[str, int]
    by_key: dict[bytes, int]
    #: every message of the keys asked about, for the hop breakdown
    of_keys: list[Sent] = field(default_factory=list)


async def count_messages(
    bootstrap: str, topics: Iterable[str], *, keys: Iterable[bytes] = ()
) -> MessageCount:
    """How many messages each topic holds (and each of ``keys`` across them), read from the start.

    Tansu's ListOffsets answers below the real end when the last batch of a partition
    holds several records, so end offsets are only a lower bound here: read at least
    up to them, then until the topics stay quiet.
    """
    names = list(topics)
    result = MessageCount(dict.fromkeys(names, 0), dict.fromkeys(keys, 0))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()
        tps = [
            TopicPartition(t, p)
            for t in names
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        if not tps:
            return result
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        at_least = await consumer.end_offsets(tps)
        while True:
            batch = await consumer.getmany(timeout_ms=300, max_records=50_000)
            for tp, records in batch.items():
                result.by_topic[tp.topic] += len(records)
                for record in records:
                    if record.key in result.by_key:
                        result.by_key[record.key] += 1
                        sent = Sent.from_record(record.headers or (), record.timestamp)
                        if sent is not None:
                            result.of_keys.append(sent)
            if not batch and await _caught_up(consumer, at_least):
                return result
    finally:
        await consumer.stop()


async def _caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if int(await consumer.position(tp)) < end:
            return False
    return True


# --------------------------------------------------------------------------- raw PostgreSQL


@dataclass
class PgbenchResult:
    """pgbench's simple-update (-N) run against a scratch database of the suite's server."""

    binary: str | None
    clients: int
    threads: int
    seconds: int
    scale: int
    tps: float | None = None
    transactions: int | None = None
    latency_ms_avg: float | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"mode": "simple-update (-N): 3 statements + insert per transaction"}


def parse_pgbench(output: str) -> tuple[float | None, int | None, float | None]:
    """(tps without initial connection time, transactions processed, average latency in ms)."""

    def find(pattern: str) -> str | None:
        m = re.search(pattern, output)
        return m.group(1) if m else None

    tps = find(r"tps = ([\d.]+) \(without initial connection time\)")
    count = find(r"number of transactions actually processed: (\d+)")
    latency = find(r"latency average = ([\d.]+) ms")
    return (
        float(tps) if tps else None,
        int(count) if count else None,
        float(latency) if latency else None,
    )


def run_pgbench(
    postgres: Postgres, *, clients: int = 8, threads: int = 2, seconds: int = 10, scale: int = 1
) -> PgbenchResult:
    """``pgbench -i`` then ``pgbench -c 8 -j 2 -T 10 -N`` on a database of its own."""
    result = PgbenchResult(postgres.pgbench, clients, threads, seconds, scale)
    if not postgres.pgbench or not Path(postgres.pgbench).exists():
        result.note = "pgbench is not available for this server; no number was measured"
        return result
    postgres.create_database(PGBENCH_DATABASE, drop=True)
    target = (
        [*postgres.host_args, PGBENCH_DATABASE]
        if postgres.host_args
        else [postgres.libpq(PGBENCH_DATABASE)]
    )
    init = subprocess.run(  # noqa: S603 - the server's own pgbench
        [postgres.pgbench, "-i", "-q", "-s", str(scale), *target],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if init.returncode != 0:
        result.note = f"pgbench -i failed: {init.stderr.strip()[-500:]}"
        return result
    run = subprocess.run(  # noqa: S603
        [
            postgres.pgbench,
            "-c",
            str(clients),
            "-j",
            str(threads),
            "-T",
            str(seconds),
            "-N",
            *target,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 120,
    )
    if run.returncode != 0:
        result.note = f"pgbench failed: {run.stderr.strip()[-500:]}"
        return result
    result.tps, result.transactions, result.latency_ms_avg = parse_pgbench(run.stdout)
    if result.tps is None:
        result.note = f"could not read tps from pgbench output: {run.stdout[-500:]}"
    return result


def commits(postgres: Postgres, databases: Iterable[str]) -> int:
    """Committed transactions so far in ``databases`` (pg_stat_database, flushed lazily)."""
    with psycopg.connect(postgres.libpq("postgres"), autocommit=True) as conn:
        with contextlib.suppress(psycopg.Error):  # PostgreSQL 15+; older servers flush later
            conn.execute("SELECT pg_stat_force_next_flush()")
        row = conn.execute(
            "SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database WHERE datname = ANY(%s)",
            (list(databases),),
        ).fetchone()
    return int(row[0]) if row else 0


def server_version(postgres: Postgres) -> str:
    with psycopg.connect(postgres.libpq("postgres"), autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


# --------------------------------------------------------------------------- processes


def postmaster_pid(root: Path) -> int | None:
    """The embedded PostgreSQL server's process id (pg_ctl detaches it), if it runs."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((root / "pgdata" / "postmaster.pid").read_text().split()[0])
    return None


def owned_processes(root: Path) -> list[psutil.Process]:
    """Our child processes, plus the embedded postmaster and its workers (pg_ctl detaches it)."""
    procs = {p.pid: p for p in psutil.Process().children(recursive=True)}
    pid = postmaster_pid(root)
    with contextlib.suppress(psutil.Error):
        if pid is not None:
            postmaster = psutil.Process(pid)
            procs[pid] = postmaster
            procs.update({p.pid: p for p in postmaster.children(recursive=True)})
    return list(procs.values())


def stop_and_verify(stop: Callable[[], None], root: Path, timeout: float = 15.0) -> list[str]:
    """Run ``stop`` and check that every process we had started (servers under ``root``) is gone.

    Returns a description of each process that outlived ``stop`` (it is then killed, by pid).
    """
    before = owned_processes(root)
    stop()
    _, alive = psutil.wait_procs(before, timeout=timeout)
    leftovers = []
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            leftovers.append(f"pid {proc.pid} {' '.join(proc.cmdline()[:3])}")
            proc.kill()
    return leftovers


# --------------------------------------------------------------------------- the suite under load


@dataclass
class SuiteResult:
    offered_rate: float
    placed: int
    measured: int  # orders placed after the warm-up (the cohort whose latencies count)
    run: OpenLoopRun
    shipped_per_second: float
    completed_per_second: float
    to_shipped: LatencySummary | None
    to_completed: LatencySummary | None
    send_ack: LatencySummary | None
    final_states: dict[str, int]
    unexpected: int
    drain_seconds: float | None
    messages_by_topic: dict[str, int]
    messages_per_saga: float | None  # mean over completed sagas of the messages keyed by them
    db_commits: int
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # per process, measured window
    window_seconds: float = 0.0
    profiles: dict[str, ProfileSummary] = field(default_factory=dict)
    hops: list[Hop] = field(default_factory=list)
    statements: StatementStats | None = None
    statements_missing: str | None = None
    messages_by_type: dict[str, int] = field(default_factory=dict)  # of the run's orders
    rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)  # before / after

    @property
    def messages_total(self) -> int:
        return sum(self.messages_by_topic.values())

    @property
    def unfinished(self) -> int:
        return self.final_states.get("unfinished", 0)

    @property
    def cpu_ms_per_saga(self) -> dict[str, float]:
        """CPU per saga, each process: its CPU in the window ÷ the sagas completed in it."""
        return per_unit_ms(self.cpu_seconds, self.completed_per_second * self.window_seconds)

    @property
    def db_commits_per_saga(self) -> float | None:
        """Meaningful only when every saga finished (else partial sagas are in the count)."""
        return self.db_commits / self.placed if self.placed and not self.unfinished else None

    @property
    def db_statements_per_saga(self) -> dict[str, float] | None:
        """Statements per saga, each database and in all (every saga finished, as above)."""
        if self.statements is None or not self.placed or self.unfinished:
            return None
        per = {db: n / self.placed for db, n in self.statements.calls.items()}
        per["total"] = sum(self.statements.calls.values()) / self.placed
        return {k: round(v, 2) for k, v in per.items()}

    def as_dict(self) -> dict[str, Any]:
        def ms(s: LatencySummary | None) -> dict[str, float | int] | None:
            return s.scaled(1000).as_dict() if s else None

        per_commit = self.db_commits_per_saga
        notes = []
        if self.unfinished:
            notes.append(
                f"{self.unfinished} sagas had not finished when waiting stopped: latencies are"
                " those of finished sagas only (the unfinished ones took longer), and DB commits"
                " per saga is left out"
            )
        return {
            "offered_rate_per_second": self.offered_rate,
            "orders_placed": self.placed,
            "orders_measured_after_warmup": self.measured,
            "send_errors": self.run.errors[:20],
            "driver_max_lag_ms": round(self.run.max_lag * 1000, 1),
            "shipped_per_second": round(self.shipped_per_second, 2),
            "completed_per_second": round(self.completed_per_second, 2),
            "placed_to_shipped_ms": ms(self.to_shipped),
            "placed_to_completed_ms": ms(self.to_completed),
            "send_to_broker_ack_ms": ms(self.send_ack),
            "final_states": self.final_states,
            "not_completed": self.unexpected,
            "drain_seconds_after_last_send": (
                round(self.drain_seconds, 2) if self.drain_seconds is not None else None
            ),
            "messages_by_topic": self.messages_by_topic,
            "messages_total": self.messages_total,
            "messages_per_saga": (
                round(self.messages_per_saga, 2) if self.messages_per_saga is not None else None
            ),
            "messages_per_saga_counts": "messages keyed by the order id, all topics,"
            " averaged over completed sagas",
            "db_commits": self.db_commits,
            "db_commits_per_saga": round(per_commit, 2) if per_commit is not None else None,
            "db_statements_per_saga": self.db_statements_per_saga,
            "db_statements": self.statements.as_dict() if self.statements else None,
            "db_statements_counts": self.statements_missing
            or "pg_stat_statements from before the first order to after the last saga,"
            " every statement of the services' databases (jobs and relays too)",
            "cpu_seconds_in_window": {k: round(v, 3) for k, v in self.cpu_seconds.items()},
            "cpu_share_of_one_core": {
                k: round(v / self.window_seconds, 3)
                for k, v in self.cpu_seconds.items()
                if self.window_seconds
            },
            "cpu_ms_per_saga": self.cpu_ms_per_saga,
            "cpu_counts": "user + system time per process over the measured window (the"
            " send times after the warm-up); per saga = seconds / (completed per second * window)",
            "profiles": {
                name: {"samples": p.samples, "inclusive": p.inclusive, "own": p.own}
                for name, p in self.profiles.items()
            },
            "messages_by_type": self.messages_by_type,
            "resent_commands": resent_commands(self.messages_by_type, self.placed),
            "resent_counts": "commands beyond one per order (ReserveStock) or one per paid order"
            " (CapturePayment, ShipOrder): what deadlines re-sent",
            "rss_mb": self.rss_mb,
            "hops": [h.as_dict() for h in self.hops],
            "hops_count": "per (cause type, effect type): waited = the effect's ce_time - the"
            " cause's broker timestamp (backlog + handling), relayed = the effect's broker"
            " timestamp - its ce_time (outbox to broker); every order of the run",
            "notes": notes,
        }


def stage_rate(events: Sequence[float], window_start: float, seconds: float, lag: float) -> float:
    """Events per second in a ``seconds``-long window shifted by the stage's median latency.

    The window starts at the end of the warm-up plus ``lag``, so that it covers the
    steady state of that stage rather than its start-up (completion trails shipping by
    the delivery and auto-confirm delays). A suite that keeps up shows the offered rate;
    one that falls behind shows what it sustains while its backlog grows.
    """
    start = window_start + lag
    return rate(count_between(events, start, start + seconds), seconds)


def service_pids(stack: Stack) -> dict[str, int]:
    """Each running service's process id."""
    return {name: p.proc.pid for name, p in stack.processes.items() if p.proc is not None}


def measured_processes(stack: Stack) -> list[Measured]:
    """The processes whose CPU the bench accounts for: services, servers and itself."""
    found = [Measured(name, pid) for name, pid in service_pids(stack).items()]
    postmaster = postmaster_pid(stack.root)
    if postmaster is not None:
        found.append(Measured("postgres", postmaster, tree=True))
    if stack.servers.kafka.pid is not None:
        found.append(Measured("broker", stack.servers.kafka.pid))
    found.append(Measured("bench driver", os.getpid()))
    return found


def resident_mb(pids: dict[str, int]) -> dict[str, float]:
    """Each process's resident memory in MiB (a process that is gone is left out)."""
    found = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            found[name] = round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    return found


def resent_commands(by_type: dict[str, int], orders: int) -> dict[str, int]:
    """Commands sent more often than the saga needs them: what its deadlines re-sent.

    One ReserveStock per order; one CapturePayment and one ShipOrder per order that
    got that far (as many as StockReserved and PaymentCaptured answers).
    """
    needed = {
        "ReserveStock": orders,
        "CapturePayment": by_type.get("StockReserved", 0),
        "ShipOrder": by_type.get("PaymentCaptured", 0),
    }
    return {kind: max(0, by_type.get(kind, 0) - n) for kind, n in needed.items()}


def measure_idle(stack: Stack, seconds: float) -> dict[str, Any]:
    """Each process's share of one core while the suite has nothing to do (jobs, relays, polls)."""
    meter = CpuMeter(measured_processes(stack))
    meter.start()
    time.sleep(seconds)
    used = meter.stop()
    share = {name: round(cpu / meter.elapsed, 4) for name, cpu in used.items()}
    services = sum(v for k, v in share.items() if k in stack.processes)
    return {
        "seconds": round(meter.elapsed, 2),
        "cpu_share_of_one_core": share,
        "services_total_share_of_one_core": round(services, 4),
    }


async def run_suite_load(
    stack: Stack,
    *,
    rate_per_second: float,
    duration: float,
    warmup: float,
    seed: int | None,
    profile_dir: Path | None = None,
) -> SuiteResult:
    """Open-loop OrderPlaced load; waits for every saga to finish (or a drain timeout).

    CPU per process is measured from the first send after the warm-up to the last send;
    with ``profile_dir``, py-spy records every service over the same window.
    """
    console = Console()
    bootstrap = stack.servers.kafka.bootstrap
    topics = all_topics_with_dead_letters()
    databases = [database_name(s) for s in stack.processes]
    total = round((warmup + duration) * rate_per_second)
    order_ids = [uuid4() for _ in range(total)]
    rng = random.Random(seed)
    counted_before = await count_messages(bootstrap, topics)
    commits_before = await asyncio.to_thread(commits, stack.servers.postgres, databases)
    statements_missing = await asyncio.to_thread(reset_statements, stack.servers.postgres)
    async with OrderWatcher(bootstrap) as watcher, Checkout(bootstrap) as checkout:
        console.print(
            f"[bold]Saga load[/]: {total} orders at {rate_per_second:g}/s"
            f" ({warmup:g} s warm-up + {duration:g} s measured), open loop"
        )
        meter = CpuMeter(measured_processes(stack))
        rss_before = resident_mb(service_pids(stack))
        profiler = Profiler(service_pids(stack), profile_dir, duration) if profile_dir else None
        first_measured = round(warmup * rate_per_second) + 1

        def measure_window(sent: int) -> None:
            if sent == first_measured:
                meter.start()
                if profiler:
                    profiler.start()
            if sent == total:
                meter.stop()

        run = await drive_open_loop(
            checkout,
            order_ids,
            rate_per_second,
            lambda _i, oid: make_order(rng, order_id=oid),
            on_sent=measure_window,
        )
        drain_limit = max(120.0, 5 * duration)
        console.print(
            f"sent; waiting for every saga to finish (at most {drain_limit:g} s,"
            f" or until none finishes for {STALL_SECONDS:g} s)"
        )
        final = await wait_for_ends(watcher, order_ids, limit_seconds=drain_limit)
        shipped = {oid: first_seen_at(watcher, oid, "OrderDispatched") for oid in order_ids}
        completed = {oid: first_seen_at(watcher, oid, "OrderCompleted") for oid in order_ids}
        last_terminal = max(
            (
                e.published_at
                for oid in order_ids
                for e in watcher.events.get(oid, ())
                if e.type in ("OrderCompleted", "OrderRejected", "OrderCancelled")
            ),
            default=None,
        )
    await asyncio.sleep(0.5)  # let relays of the last events settle before counting
    keys = [str(oid).encode() for oid in order_ids]
    counted_after = await count_messages(bootstrap, topics, keys=keys)
    commits_after = await asyncio.to_thread(commits, stack.servers.postgres, databases)
    statements = (
        None
        if statements_missing
        else await asyncio.to_thread(read_statements, stack.servers.postgres, databases)
    )

    profiles = (
        {
            name: summarize_profile(path, keep=interesting)
            for name, path in (await asyncio.to_thread(profiler.wait)).items()
        }
        if profiler
        else {}
    )
    measured_start = run.started_at + warmup
    cohort = {oid: t for oid, t in run.intended.items() if t >= measured_start}
    to_shipped = summarize(durations(cohort, shipped))
    to_completed = summarize(durations(cohort, completed))
    outcomes = tally(dict.fromkeys(order_ids, "Completed"), final)
    shipped_times = [t for t in shipped.values() if t is not None]
    completed_times = [t for t in completed.values() if t is not None]
    return SuiteResult(
        offered_rate=rate_per_second,
        placed=run.sent,
        measured=len(cohort),
        run=run,
        shipped_per_second=stage_rate(
            shipped_times, measured_start, duration, to_shipped.p50 if to_shipped else 0.0
        ),
        completed_per_second=stage_rate(
            completed_times, measured_start, duration, to_completed.p50 if to_completed else 0.0
        ),
        to_shipped=to_shipped,
        to_completed=to_completed,
        send_ack=summarize(durations(run.intended, run.acked_at)),
        final_states=outcomes.counts(),
        unexpected=len(outcomes.unexpected),
        drain_seconds=(last_terminal - run.finished_at) if last_terminal else None,
        messages_by_topic={
            t: counted_after.by_topic[t] - counted_before.by_topic[t]
            for t in topics
            if counted_after.by_topic[t] - counted_before.by_topic[t]
        },
        messages_per_saga=mean_or_none(
            [counted_after.by_key[str(oid).encode()] for oid, t in completed.items() if t]
        ),
        db_commits=commits_after - commits_before,
        cpu_seconds=meter.used,
        window_seconds=meter.elapsed,
        profiles=profiles,
        hops=hops(counted_after.of_keys),
        messages_by_type=dict(Counter(m.type for m in counted_after.of_keys).most_common()),
        rss_mb={
            name: {"before": mb, "after": resident_mb(service_pids(stack)).get(name, 0.0)}
            for name, mb in rss_before.items()
        },
        statements=statements,
        statements_missing=statements_missing,
    )


def mean_or_none(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def first_seen_at(watcher: OrderWatcher, order_id: UUID, event_type: str) -> float | None:
    """When the order's first ``event_type`` was published: its broker timestamp (None: not
    seen yet). Not when the watcher received it: on Tansu a fetch returns only when its
    wait expires, so the watcher's own wait would be measured too, and a short one
    costs the broker CPU the suite's services then lack."""
    seen = watcher.first(order_id, event_type)
    return seen.published_at if seen else None


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    """The machine, and how busy it was before we started (other work skews every number)."""
    return {
        "load_average_1_5_15_min_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_count_logical": os.cpu_count(),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
    }


def print_report(console: Console, data: dict[str, Any]) -> None:
    suite = data.get("suite")
    pg = data["postgres"]
    broker = data["broker"]

    if suite:
        t = Table(title="Suite: open-loop saga load", show_header=True)
        t.add_column("measure")
        t.add_column("value", justify="right")
        t.add_row("offered rate (OrderPlaced/s)", f"{suite['offered_rate_per_second']:g}")
        t.add_row(
            "orders placed / measured after warm-up",
            f"{suite['orders_placed']} / {suite['orders_measured_after_warmup']}",
        )
        t.add_row("shipped per second (OrderDispatched)", f"{suite['shipped_per_second']:.1f}")
        t.add_row("completed per second (OrderCompleted)", f"{suite['completed_per_second']:.1f}")
        for key, label in (
            ("placed_to_shipped_ms", "placed→shipped"),
            ("placed_to_completed_ms", "placed→completed"),
        ):
            s = suite[key]
            t.add_row(
                f"{label} p50 / p95 / p99 / max",
                (
                    f"{s['p50']:,.0f} / {s['p95']:,.0f} / {s['p99']:,.0f} / {s['max']:,.0f} ms"
                    if s
                    else "-"
                ),
            )
        t.add_row(
            "final states",
            ", ".join(f"{k} {v}" for k, v in suite["final_states"].items() if v) or "-",
        )
        t.add_row("driver: worst lag behind schedule", f"{suite['driver_max_lag_ms']:,.1f} ms")
        if suite["drain_seconds_after_last_send"] is not None:
            t.add_row(
                "last saga finished after last send",
                f"{suite['drain_seconds_after_last_send']:.1f} s",
            )
        t.add_row(
            "messages per completed saga (all topics)", f"{suite['messages_per_saga'] or '-'}"
        )
        t.add_row("DB commits per saga (approx.)", f"{suite['db_commits_per_saga'] or '-'}")
        resent = suite.get("resent_commands") or {}
        t.add_row(
            "commands re-sent by deadlines",
            ", ".join(f"{k} {v}" for k, v in resent.items()) or "-",
        )
        rss = suite.get("rss_mb") or {}
        t.add_row(
            "service memory before → after (MiB)",
            ", ".join(f"{k} {v['before']:.0f}→{v['after']:.0f}" for k, v in rss.items()) or "-",
        )
        t.add_row(
            "DB statements per saga (approx.)",
            f"{(suite['db_statements_per_saga'] or {}).get('total', '-')}",
        )
        console.print(t)
        print_hops(console, suite.get("hops", ()))
        print_statements(console, suite)
        print_cost(console, suite)
        for note in suite.get("notes", ()):
            console.print(Text(note, style="yellow"))
    elif data.get("suite_error"):
        console.print(Text(f"suite not measured: {data['suite_error']}", style="red"))

    r = Table(title="Raw servers (same servers; suite idle: " + data["raw_when"] + ")")
    r.add_column("server")
    r.add_column("measure")
    r.add_column("value", justify="right")
    if pg.get("tps") is not None:
        r.add_row(
            f"PostgreSQL {data.get('postgres_version', '')}",
            f"pgbench -c {pg['clients']} -j {pg['threads']} -T {pg['seconds']} -N (tps)",
            f"{pg['tps']:,.0f}",
        )
    else:
        r.add_row("PostgreSQL", "pgbench", Text(f"not measured: {pg['note']}"))
    if broker.get("produce_msgs_per_second") is not None:
        size = f"{broker['value_bytes']} B + {broker['header_bytes']} B headers"
        r.add_row(
            "Tansu",
            f"produce {broker['messages']} msgs of {size} (msgs/s)",
            f"{broker['produce_msgs_per_second']:,.0f}",
        )
        r.add_row(
            "Tansu",
            f"consume the same, {broker['partitions']} partitions (msgs/s)",
            f"{broker['consume_msgs_per_second']:,.0f}",
        )
    else:
        r.add_row("Tansu", "raw produce/consume", Text(f"not measured: {broker.get('error', '?')}"))
    console.print(r)

    idle = data.get("idle")
    if idle:
        i = table(
            f"Idle suite: share of one core over {idle['seconds']:g} s, no load",
            "process",
            "share of one core",
        )
        for name, share in idle["cpu_share_of_one_core"].items():
            i.add_row(name, f"{share:.1%}")
        i.add_row("the six services", f"{idle['services_total_share_of_one_core']:.1%}")
        console.print(i)

    if data.get("sweep"):
        print_sweep(console, data["sweep"])

    ratios = data.get("side_by_side") or {}
    if ratios:
        s = Table(title="Side by side")
        s.add_column("comparison")
        s.add_column("value", justify="right")
        for label, value in ratios.items():
            s.add_row(label, "-" if value is None else f"{value:,.4g}")
        console.print(s)


def table(title: str, first: str, *figures: str) -> Table:
    """A report table: a label column, then right-aligned figures."""
    t = Table(title=title)
    t.add_column(first)
    for name in figures:
        t.add_column(name, justify="right")
    return t


def print_hops(console: Console, found: Iterable[dict[str, Any]]) -> None:
    """Where a saga's time goes: each hop's wait (backlog + handling) and relay time."""
    rows = list(found)
    if not rows:
        return
    h = table(
        "Hops: from a message to the one it caused (ms, p50 / p99)",
        "cause → effect",
        "count",
        "waited (queue + handler)",
        "relayed (outbox → broker)",
    )
    for hop in rows:
        w, r = hop["waited_ms"], hop["relayed_ms"]
        h.add_row(
            f"{hop['cause']} → {hop['effect']}",
            f"{w['count']}",
            f"{w['p50']:,.0f} / {w['p99']:,.0f}",
            f"{r['p50']:,.0f} / {r['p99']:,.0f}",
        )
    console.print(h)


def print_statements(console: Console, suite: dict[str, Any]) -> None:
    """Statements per saga by database, and the ones that took the server the longest."""
    stats, per_saga = suite.get("db_statements"), suite.get("db_statements_per_saga") or {}
    if not stats:
        return
    d = table(
        "PostgreSQL statements over the run (pg_stat_statements)",
        "database",
        "statements",
        "per saga",
        "server time (ms)",
    )
    for db, calls in stats["calls_by_database"].items():
        d.add_row(
            db, f"{calls:,}", f"{per_saga.get(db, '-')}", f"{stats['exec_ms_by_database'][db]:,.0f}"
        )
    console.print(d)
    q = table("Statements with the most server time", "database", "calls", "mean ms")
    q.add_column("statement")
    for st in stats["top_by_total_time"]:
        q.add_row(st["database"], f"{st['calls']:,}", f"{st['mean_ms']:.2f}", st["query"])
    console.print(q)


def print_cost(console: Console, suite: dict[str, Any]) -> None:
    """CPU per process over the measured window, and the profiles' heaviest frames."""
    used, share, per_saga = (
        suite["cpu_seconds_in_window"],
        suite["cpu_share_of_one_core"],
        suite["cpu_ms_per_saga"],
    )
    if used:
        c = Table(title="CPU over the measured window")
        c.add_column("process")
        c.add_column("share of one core", justify="right")
        c.add_column("CPU ms per completed saga", justify="right")
        for name in used:
            c.add_row(name, f"{share.get(name, 0):.0%}", f"{per_saga.get(name, '-')}")
        c.add_row("total", f"{sum(share.values()):.0%}", f"{per_saga.get('total', '-')}")
        console.print(c)
    for name, profile in suite["profiles"].items():
        p = Table(title=f"py-spy: {name} ({profile['samples']} samples)")
        p.add_column("inclusive")
        p.add_column("frame")
        for shared, frame in profile["inclusive"]:
            p.add_row(f"{shared:.0%}", frame)
        console.print(p)


def side_by_side(data: dict[str, Any]) -> dict[str, float | None]:
    suite, pg, broker = data.get("suite"), data["postgres"], data["broker"]
    if not suite:
        return {}
    completed = suite["completed_per_second"]
    tps = pg.get("tps")
    produce = broker.get("produce_msgs_per_second")
    msgs = suite.get("messages_per_saga")
    db = suite.get("db_commits_per_saga")

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    return {
        "completed sagas/s ÷ pgbench tps": ratio(completed, tps),
        "completed sagas/s ÷ raw produce msgs/s": ratio(completed, produce),
        "messages per saga": msgs,
        "broker ceiling (raw produce msgs/s ÷ messages per saga), sagas/s": (
            produce / msgs if produce and msgs else None
        ),
        "DB commits per saga (approx., incl. relay and job polls)": db,
        "database ceiling (pgbench tps ÷ DB commits per saga), sagas/s": (
            tps / db if tps and db else None
        ),
    }


# --------------------------------------------------------------------------- main


async def measure_raw(
    servers: Servers, *, messages: int, partitions: int, pg_seconds: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    console = Console()
    console.print(f"[bold]Raw broker[/]: {messages} messages, {partitions} partitions")
    try:
        broker: dict[str, Any] = (
            await measure_broker(servers.kafka.bootstrap, messages=messages, partitions=partitions)
        ).as_dict()
    except Exception as exc:  # a broken broker is a result to report, not a crash
        broker = {"error": f"{type(exc).__name__}: {exc}"}
    console.print(f"[bold]Raw PostgreSQL[/]: pgbench -c 8 -j 2 -T {pg_seconds} -N")
    pg = await asyncio.to_thread(run_pgbench, servers.postgres, seconds=pg_seconds)
    return broker, pg.as_dict()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m orderly_dev.bench",
        description="Open-loop saga load through the suite, beside raw pgbench and broker rates,"
        " all on the same servers in one run.",
    )
    p.add_argument("--rate", type=float, default=100.0, help="OrderPlaced per second (open loop)")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds of load")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    p.add_argument("--out", type=Path, default=Path("bench-results/latest.json"), help="JSON path")
    p.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    p.add_argument("--raw-messages", type=int, default=20_000, help="messages for the raw broker")
    p.add_argument("--pgbench-seconds", type=int, default=10, help="pgbench -T")
    p.add_argument("--seed", type=int, default=None, help="random seed for the orders")
    p.add_argument("--root", type=Path, default=None, help="data and log directory")
    p.add_argument(
        "--find-max",
        action="store_true",
        help="sweep offered rates from --find-max-start (x1.5 per step) to the highest one"
        " held (every saga completed, placed→shipped p99 <= 2 s); table, JSON and"
        " capacity.png beside --out",
    )
    p.add_argument(
        "--find-max-start", type=float, default=4.0, help="the sweep's first rate (orders/s)"
    )
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=10.0,
        help="seconds to measure the idle suite's CPU before the load (0: skip)",
    )
    p.add_argument(
        "--raw-only", action="store_true", help="only the raw servers (no services, no saga load)"
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy record every service over the measured window (collapsed stacks beside"
        " --out, under profiles/)",
    )
    ns = p.parse_args(argv)
    if ns.profile and py_spy() is None:
        p.error("--profile needs py-spy: .venv/bin/pip install -r requirements-dev.txt")
    if ns.rate <= 0 or ns.duration <= 0 or ns.warmup < 0:
        p.error("--rate and --duration must be above 0 and --warmup at least 0")
    return ns


def warn_if_busy(machine_info: dict[str, Any]) -> str | None:
    """A warning when other work already keeps the machine's cores busy."""
    load = machine_info["load_average_1_5_15_min_at_start"][0]
    cores = machine_info["cpu_count_logical"] or 1
    if load <= cores * 0.5:
        return None
    return (
        f"the machine is busy before the benchmark starts (load average {load:.1f} on"
        f" {cores} cores): every number below will be lower than on an idle machine"
    )


def interrupt_on_sigterm() -> None:
    """SIGTERM ends a run the way Ctrl-C does: through the same cleanup."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` where SIGTERM, like Ctrl-C, cancels the work and cleans up.

    Raises KeyboardInterrupt either way, so that one ``except`` stops the stack.
    """

    async def guarded() -> T:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await coro

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        raise KeyboardInterrupt("SIGTERM") from None
    finally:
        interrupt_on_sigterm()  # the loop resets SIGTERM to its default when it closes


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_sigterm()
    console = Console()
    data: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "machine": machine(),
        "raw_when": "before the saga load, services running but idle",
    }
    stack: Stack | None = None
    servers: Servers | None = None
    exit_code = 0
    busy = warn_if_busy(data["machine"])
    if busy:
        console.print(Text(busy, style="yellow"))
        data["warnings"] = [busy]
    try:
        console.print("Starting PostgreSQL (embedded) and Kafka (Tansu)…")
        servers = start_servers(args.root)
        if args.raw_only:
            data["suite_error"] = "--raw-only: the suite was not started"
            data["raw_when"] = "no services running"
        else:
            console.print("Starting the six services…")
            stack = Stack(servers=servers, partitions=args.partitions, settings=FAST_SETTINGS)
            try:
                stack.prepare()
                stack.start_services()
                stack.run_command("inventory", "seed-demo")
            except (RuntimeError, TimeoutError, OSError) as exc:
                # The raw numbers are still worth having; the report says why the suite is missing.
                data["suite_error"] = f"the suite did not start: {exc}"
                console.print(Text(data["suite_error"], style="red"))
                data["raw_when"] = "the services failed to start; no saga load"
                exit_code = 1
        console.print(f"data and logs in {servers.root}")
        data["postgres_version"] = server_version(servers.postgres)
        data["settings"] = {
            "rate_per_second": args.rate,
            "duration_seconds": args.duration,
            "warmup_seconds": args.warmup,
            "partitions": args.partitions,
            "raw_messages": args.raw_messages,
            "pgbench_seconds": args.pgbench_seconds,
            "seed": args.seed,
            "services": _service_settings(stack) if stack else {},
        }
        data["broker"], data["postgres"] = run_async(
            measure_raw(
                servers,
                messages=args.raw_messages,
                partitions=args.partitions,
                pg_seconds=args.pgbench_seconds,
            )
        )
        if stack and "suite_error" not in data and args.idle_seconds > 0:
            console.print(f"Idle: every process's CPU over {args.idle_seconds:g} s, no load")
            data["idle"] = measure_idle(stack, args.idle_seconds)
        if stack and "suite_error" not in data:
            try:
                if args.find_max:
                    exit_code = find_max(stack, args, data, console)
                else:
                    suite = run_async(
                        run_suite_load(
                            stack,
                            rate_per_second=args.rate,
                            duration=args.duration,
                            warmup=args.warmup,
                            seed=args.seed,
                            profile_dir=args.out.parent / "profiles" if args.profile else None,
                        )
                    )
                    data["suite"] = suite.as_dict()
                    if suite.unexpected:
                        exit_code = 1
            except Exception as exc:
                data["suite_error"] = f"{type(exc).__name__}: {exc} (logs in {servers.root})"
                exit_code = 1
        data["side_by_side"] = side_by_side(data)
        print_report(console, data)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=2, default=str) + "\n")
        console.print(f"results written to {args.out}")
    except KeyboardInterrupt:
        console.print("interrupted")
        exit_code = 130
    finally:
        target = stack or servers
        if target is not None and servers is not None:
            leftovers = stop_and_verify(target.stop, servers.root)
            if leftovers:
                console.print(f"[red]processes outlived the stop and were killed:[/] {leftovers}")
                exit_code = exit_code or 1
            else:
                console.print("stopped; no process left behind")
    return exit_code


def find_max(stack: Stack, args: argparse.Namespace, data: dict[str, Any], console: Console) -> int:
    """The sweep of ``--find-max``: every point's figures, the capacity and its chart."""
    runs: dict[float, dict[str, Any]] = {}

    async def run_point(rate: float) -> capacity_mod.Point:
        console.print(f"[bold]--find-max[/]: {rate:g} orders/s")
        suite = await run_suite_load(
            stack, rate_per_second=rate, duration=args.duration, warmup=args.warmup, seed=args.seed
        )
        runs[rate] = suite.as_dict()
        point = capacity_mod.Point.from_suite(runs[rate])
        console.print(
            f"  completed {point.completed_per_second:.1f}/s, placed→shipped p99"
            f" {point.shipped_p99_ms or float('nan'):,.0f} ms:"
            f" {'held' if point.held() else 'not held'}"
        )
        return point

    points = run_async(capacity_mod.sweep(run_point, start=args.find_max_start))
    found = capacity_mod.capacity(points)
    chart = capacity_mod.draw(points, args.out.parent / "capacity.png")
    data["sweep"] = {
        "p99_limit_ms": capacity_mod.P99_LIMIT_MS,
        "capacity_per_second": found,
        "chart": str(chart),
        "points": [p.as_dict() for p in points],
        "runs": {f"{rate:g}": suite for rate, suite in sorted(runs.items())},
    }
    if found is not None:
        data["suite"] = runs[found]  # the report's tables show the highest rate held
    return 0 if found is not None else 1


def print_sweep(console: Console, found: dict[str, Any]) -> None:
    """The curve of ``--find-max`` as a table, and where its chart is."""
    t = table(
        f"--find-max: held = every saga completed, placed→shipped p99 ≤"
        f" {found['p99_limit_ms'] / 1000:g} s",
        "offered/s",
        "completed/s",
        "shipped p50 ms",
        "shipped p99 ms",
        "CPU",
        "held",
    )
    for p in found["points"]:
        t.add_row(
            f"{p['offered']:g}",
            f"{p['completed_per_second']:.1f}",
            f"{p['shipped_p50_ms']:,.0f}" if p["shipped_p50_ms"] is not None else "-",
            f"{p['shipped_p99_ms']:,.0f}" if p["shipped_p99_ms"] is not None else "-",
            f"{sum(p['cpu_share'].values()):.0%}",
            "yes" if p["held"] else "no",
        )
    console.print(t)
    capacity_found = found["capacity_per_second"]
    console.print(
        f"capacity: {capacity_found:g} sagas/s"
        if capacity_found is not None
        else "capacity: no rate was held"
    )
    console.print(f"chart: {found['chart']}")


def _service_settings(stack: Stack) -> dict[str, dict[str, str]]:
    """The environment each service ran with (its own prefix only)."""
    out = {}
    for name, proc in stack.processes.items():
        prefix = SERVICES[name].env_prefix
        out[name] = {k: v for k, v in sorted(proc.env.items()) if k.startswith(prefix)}
    return out


if __name__ == "__main__":
    raise SystemExit(main())
