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
    stage_rate,
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
        futures = [await producer.send(topic, b"x" * 100) for _ in range(57)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()

    assert await count_messages(servers.kafka.bootstrap, [topic]) == {topic: 57}


@pytest.mark.slow
def test_pgbench_runs_against_the_sessions_server(servers: Servers) -> None:
    result = run_pgbench(servers.postgres, clients=2, threads=1, seconds=1)

    if servers.postgres.pgbench is None:
        assert result.tps is None
        assert "not available" in result.note
    else:
        assert result.tps is not None, result.note
        assert result.tps > 0
