"""The demo's and the benchmark's numbers: percentiles, outcomes, rates, the open-loop driver."""

from __future__ import annotations

import asyncio
import time
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaProducer

from orderly_dev.bench import (
    count_messages,
    drive_open_loop,
    measure_broker,
    parse_pgbench,
    run_pgbench,
    side_by_side,
    stage_rate,
    wait_for_ends,
    warn_if_busy,
)
from orderly_dev.checkout import make_order
from orderly_dev.report import (
    count_between,
    durations,
    evenly_chosen,
    final_state,
    latency_table_rows,
    open_loop_schedule,
    percentile,
    rate,
    summarize,
    tally,
)
from orderly_dev.servers import Servers
from orderly_dev.watch import OrderWatcher, Seen
from orderly_kit.topics_admin import ensure_topics
from orderly_schemas.checkout import OrderPlaced

ONE_TO_HUNDRED = [float(i) for i in range(1, 101)]


# --------------------------------------------------------------------------- percentiles


def test_median_of_one_to_hundred_interpolates_between_the_middle_values() -> None:
    assert percentile(ONE_TO_HUNDRED, 50) == pytest.approx(50.5)


def test_high_percentiles_of_one_to_hundred() -> None:
    assert (percentile(ONE_TO_HUNDRED, 95), percentile(ONE_TO_HUNDRED, 99)) == pytest.approx(
        (95.05, 99.01)
    )


def test_percentile_ends_are_minimum_and_maximum() -> None:
    assert (percentile([3.0, 1.0, 2.0], 0), percentile([3.0, 1.0, 2.0], 100)) == (1.0, 3.0)


def test_percentile_does_not_depend_on_input_order() -> None:
    assert percentile([40.0, 10.0, 30.0, 20.0], 50) == 25.0


def test_percentile_of_a_single_value_is_that_value() -> None:
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_percentile_outside_zero_to_hundred_is_an_error() -> None:
    with pytest.raises(ValueError, match="q=101"):
        percentile([1.0], 101)


# --------------------------------------------------------------------------- summaries


def test_summary_of_four_durations() -> None:
    s = summarize([0.4, 0.1, 0.3, 0.2])
    assert s is not None
    assert (s.count, s.mean, s.p50, s.p95, s.p99, s.max) == pytest.approx(
        (4, 0.25, 0.25, 0.385, 0.397, 0.4)
    )


def test_summary_of_nothing_is_none() -> None:
    assert summarize([]) is None


def test_summary_in_milliseconds_rounds_for_json() -> None:
    s = summarize([0.0101, 0.0203])
    assert s is not None
    assert s.scaled(1000).as_dict() == {
        "count": 2,
        "mean": 15.2,
        "p50": 15.2,
        "p95": 19.8,
        "p99": 20.2,
        "max": 20.3,
    }


def test_latency_rows_show_milliseconds_and_a_dash_when_missing() -> None:
    rows = latency_table_rows([("shipped", summarize([1.0, 2.0, 3.0])), ("completed", None)])
    assert rows == [
        ("shipped", "3", "2,000 ms", "2,900 ms", "2,980 ms", "3,000 ms"),
        ("completed", "0", "-", "-", "-", "-"),
    ]


def test_durations_skip_orders_without_an_end() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    assert durations({a: 1.0, b: 2.0, c: 3.0}, {a: 1.5, b: None}) == [0.5]


# --------------------------------------------------------------------------- outcomes


def test_tally_counts_final_states_and_names_unexpected_orders() -> None:
    ok, rejected, stuck, wrongly_cancelled = (uuid4() for _ in range(4))
    expected = {
        ok: "Completed",
        rejected: "Rejected",
        stuck: "Completed",
        wrongly_cancelled: "Completed",
    }
    final = {ok: "OrderCompleted", rejected: "OrderRejected", wrongly_cancelled: "OrderCancelled"}

    outcomes = tally(expected, final)

    assert outcomes.counts() == {"Completed": 1, "Rejected": 1, "Cancelled": 1, "unfinished": 1}
    assert outcomes.unexpected == {
        stuck: ("Completed", "unfinished"),
        wrongly_cancelled: ("Completed", "Cancelled"),
    }
    assert not outcomes.ok


def test_tally_of_expected_outcomes_is_ok() -> None:
    a = uuid4()
    assert tally({a: "Rejected"}, {a: "OrderRejected"}).ok


def test_final_state_names() -> None:
    assert (final_state("OrderCompleted"), final_state(None)) == ("Completed", "unfinished")


# --------------------------------------------------------------------------- rates and schedules


def test_open_loop_schedule_is_fixed_in_advance() -> None:
    assert open_loop_schedule(10.0, 4, 5) == [10.0, 10.25, 10.5, 10.75, 11.0]


def test_open_loop_schedule_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="rate=0"):
        open_loop_schedule(0.0, 0, 3)


def test_sold_out_share_marks_evenly_spread_orders() -> None:
    marks = evenly_chosen(20, 0.1)
    assert [i for i, m in enumerate(marks) if m] == [4, 14]


@pytest.mark.parametrize(("count", "share", "marked"), [(100, 0.1, 10), (7, 0.0, 0), (7, 1.0, 7)])
def test_sold_out_share_marks_the_rounded_share(count: int, share: float, marked: int) -> None:
    assert sum(evenly_chosen(count, share)) == marked


def test_rate_and_window_counts() -> None:
    assert rate(30, 2.0) == 15.0
    assert rate(5, 0.0) == 0.0
    assert count_between([1.0, 2.0, 2.5, 3.0], 2.0, 3.0) == 2


def test_stage_rate_counts_a_window_shifted_by_the_stage_latency() -> None:
    # Ten events per second from t=4 to t=14 (after a 4 s pipeline delay); warm-up ends at t=3.
    events = [4.0 + i / 10 for i in range(100)]
    assert stage_rate(events, window_start=3.0, seconds=5.0, lag=0.0) == 8.0  # starts too early
    assert stage_rate(events, window_start=3.0, seconds=5.0, lag=4.0) == 10.0


# --------------------------------------------------------------------------- the report


def test_side_by_side_relates_sagas_to_the_raw_limits() -> None:
    data = {
        "suite": {
            "completed_per_second": 50.0,
            "messages_per_saga": 20.0,
            "db_commits_per_saga": 25.0,
        },
        "postgres": {"tps": 2000.0},
        "broker": {"produce_msgs_per_second": 10_000.0},
    }

    ratios = side_by_side(data)

    assert ratios == {
        "completed sagas/s ÷ pgbench tps": 0.025,
        "completed sagas/s ÷ raw produce msgs/s": 0.005,
        "messages per saga": 20.0,
        "broker ceiling (raw produce msgs/s ÷ messages per saga), sagas/s": 500.0,
        "DB commits per saga (approx., incl. relay and job polls)": 25.0,
        "database ceiling (pgbench tps ÷ DB commits per saga), sagas/s": 80.0,
    }


def test_side_by_side_without_pgbench_leaves_its_ratios_empty() -> None:
    data = {
        "suite": {
            "completed_per_second": 50.0,
            "messages_per_saga": 20.0,
            "db_commits_per_saga": 25.0,
        },
        "postgres": {"tps": None},
        "broker": {"produce_msgs_per_second": 10_000.0},
    }

    ratios = side_by_side(data)

    assert ratios["completed sagas/s ÷ pgbench tps"] is None
    assert ratios["database ceiling (pgbench tps ÷ DB commits per saga), sagas/s"] is None


def test_a_busy_machine_is_called_out() -> None:
    busy = {"load_average_1_5_15_min_at_start": [6.0, 5.0, 4.0], "cpu_count_logical": 2}
    idle = {"load_average_1_5_15_min_at_start": [0.2, 0.1, 0.1], "cpu_count_logical": 2}
    assert (warn_if_busy(idle), "load average 6.0 on 2 cores" in (warn_if_busy(busy) or "")) == (
        None,
        True,
    )


# --------------------------------------------------------------------------- pgbench output

PGBENCH_OUTPUT = """\
pgbench (18.6)
transaction type: <builtin: simple update>
scaling factor: 1
query mode: simple
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 34856
number of failed transactions: 0 (0.000%)
latency average = 2.293 ms
initial connection time = 12.507 ms
tps = 3489.344765 (without initial connection time)
"""


def test_pgbench_output_gives_tps_transactions_and_latency() -> None:
    assert parse_pgbench(PGBENCH_OUTPUT) == (3489.344765, 34856, 2.293)


def test_pgbench_output_without_numbers_gives_none() -> None:
    assert parse_pgbench("connection refused") == (None, None, None)


# --------------------------------------------------------------------------- open-loop driver


class SlowCheckout:
    """A checkout whose broker takes half a second to acknowledge each order."""

    def __init__(self) -> None:
        self.sent_at: dict[UUID, float] = {}
        self.started: list[float] = []

    async def place(self, order: OrderPlaced) -> None:
        self.started.append(time.monotonic())
        await asyncio.sleep(0.5)
        self.sent_at[order.order_id] = time.time()


async def test_open_loop_sends_on_schedule_without_waiting_for_acknowledgements() -> None:
    checkout = SlowCheckout()
    ids = [uuid4() for _ in range(10)]

    run = await drive_open_loop(checkout, ids, 100.0, lambda _i, oid: make_order(order_id=oid))

    assert checkout.started[-1] - checkout.started[0] < 0.4  # ten sends in ~0.09 s, not 5 s
    assert [run.intended[oid] - run.started_at for oid in ids] == pytest.approx(
        [i / 100 for i in range(10)]
    )
    assert set(run.acked_at) == set(ids)
    assert run.errors == []


# --------------------------------------------------------------------------- waiting for sagas


def watcher_with(ends: dict[UUID, str]) -> OrderWatcher:
    """A watcher (never started) that has already seen these end events."""
    watcher = OrderWatcher(bootstrap="unused:9092")
    for oid, event_type in ends.items():
        watcher.events[oid].append(Seen(event_type, time.time(), time.time(), {}, {}, 0, 0))
    return watcher


async def test_waiting_ends_at_once_when_every_order_has_ended() -> None:
    a, b = uuid4(), uuid4()
    seen: list[int] = []

    ends = await wait_for_ends(
        watcher_with({a: "OrderCompleted", b: "OrderRejected"}),
        [a, b],
        limit_seconds=30,
        progress=seen.append,
    )

    assert ends == {a: "OrderCompleted", b: "OrderRejected"}
    assert seen == [2]


async def test_waiting_gives_up_when_no_order_ends_for_the_stall_time() -> None:
    done, stuck = uuid4(), uuid4()
    started = time.monotonic()

    ends = await wait_for_ends(
        watcher_with({done: "OrderCompleted"}), [done, stuck], limit_seconds=30, stall_seconds=0.3
    )

    assert ends == {done: "OrderCompleted", stuck: None}
    assert time.monotonic() - started < 2


# --------------------------------------------------------------------------- real servers


@pytest.mark.slow
async def test_raw_broker_measurement_produces_and_consumes_every_message(
    servers: Servers,
) -> None:
    result = await measure_broker(servers.kafka.bootstrap, messages=300, partitions=2)

    assert result.consumed >= 300
    assert result.produce_per_second > 0
    assert result.consume_per_second > 0
    assert result.value_bytes > 300  # the size of a real OrderPlaced JSON


@pytest.mark.slow
async def test_messages_are_counted_exactly_even_when_batched(servers: Servers) -> None:
    topic = f"bench.count.{uuid4().hex[:8]}"
    await ensure_topics(servers.kafka.bootstrap, partitions=2, topics=[topic])
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka.bootstrap, linger_ms=20)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, b"x" * 100, key=b"a" if i < 20 else b"b") for i in range(57)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()

    counted = await count_messages(servers.kafka.bootstrap, [topic], keys=[b"a", b"c"])

    assert (counted.by_topic, counted.by_key) == ({topic: 57}, {b"a": 20, b"c": 0})


@pytest.mark.slow
def test_pgbench_runs_against_the_sessions_server(servers: Servers) -> None:
    result = run_pgbench(servers.postgres, clients=2, threads=1, seconds=1)

    if servers.postgres.pgbench is None:
        assert result.tps is None
        assert "not available" in result.note
    else:
        assert result.tps is not None, result.note
        assert result.tps > 0
