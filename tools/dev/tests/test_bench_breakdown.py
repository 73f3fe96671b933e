"""The bench's breakdowns: where a saga's time goes (hops) and what PostgreSQL was asked."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from orderly_dev.bench import count_messages, resent_commands
from orderly_dev.hops import Sent, hops
from orderly_dev.servers import Servers
from orderly_dev.statements import read_statements, reset_statements
from orderly_kit.topics_admin import ensure_topics
from orderly_schemas.cloudevents import Envelope


def sent(id: str, type: str, cause: str | None, written: float, published: float) -> Sent:
    return Sent(id, type, cause, written, published)


def test_a_hop_waits_from_the_causes_publication_and_relays_from_its_own_write() -> None:
    placed = sent("a", "OrderPlaced", None, 100.0, 100.010)
    reserve = sent("b", "ReserveStock", "a", 100.050, 100.060)
    reserved = sent("c", "StockReserved", "b", 100.560, 100.600)

    found = {(h.cause, h.effect): h for h in hops([reserved, placed, reserve])}

    assert set(found) == {("OrderPlaced", "ReserveStock"), ("ReserveStock", "StockReserved")}
    assert found["ReserveStock", "StockReserved"].waited.p50 == pytest.approx(500)
    assert found["ReserveStock", "StockReserved"].relayed.p50 == pytest.approx(40)
    assert found["OrderPlaced", "ReserveStock"].waited.p50 == pytest.approx(40)
    assert hops([reserved, placed, reserve])[0].effect == "StockReserved"  # slowest first


def test_a_message_whose_cause_is_not_among_them_makes_no_hop() -> None:
    assert (
        hops([sent("b", "ReserveStock", "elsewhere", 1.0, 1.1), sent("a", "X", None, 0, 0)]) == []
    )


def test_a_record_without_cloudevents_headers_is_no_message() -> None:
    assert Sent.from_record([("other", b"x")], 1_000) is None


@pytest.mark.slow
async def test_the_messages_of_the_keys_asked_about_are_kept_with_their_times(
    servers: Servers,
) -> None:
    topic = f"bench.hops.{uuid4().hex[:8]}"
    await ensure_topics(servers.kafka.bootstrap, partitions=1, topics=[topic])
    cause = Envelope(type="ReserveStock", source="test", time=datetime(2026, 1, 1, tzinfo=UTC))
    effect = Envelope(type="StockReserved", source="test", causation_id=cause.id)
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka.bootstrap)
    await producer.start()
    try:
        for env, key in ((cause, b"a"), (effect, b"a"), (Envelope(type="X", source="t"), b"b")):
            headers = [(k, v.encode()) for k, v in env.to_headers().items()]
            await producer.send_and_wait(topic, b"{}", key=key, headers=headers)
    finally:
        await producer.stop()

    counted = await count_messages(servers.kafka.bootstrap, [topic], keys=[b"a"])

    assert [(m.type, m.cause) for m in counted.of_keys] == [
        ("ReserveStock", None),
        ("StockReserved", cause.id),
    ]
    assert counted.of_keys[0].written_at == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert counted.of_keys[1].published_at > counted.of_keys[0].written_at


@pytest.mark.slow
def test_statements_are_counted_per_database_over_the_window(servers: Servers) -> None:
    name = f"bench_statements_{uuid4().hex[:8]}"
    servers.postgres.create_database(name)

    missing = reset_statements(servers.postgres)
    if missing:  # a server named by settings that does not preload pg_stat_statements
        assert "pg_stat_statements" in missing
        return
    with psycopg.connect(servers.postgres.libpq(name), autocommit=True) as conn:
        for _ in range(3):
            conn.execute("SELECT count(*) FROM pg_class")
    stats = read_statements(servers.postgres, [name])

    assert stats.calls[name] >= 3
    counted = {s.query: s.calls for s in stats.most_called}
    assert counted["SELECT count(*) FROM pg_class"] == 3


def test_re_sent_commands_are_those_beyond_what_each_order_needed() -> None:
    by_type = {
        "ReserveStock": 12,
        "StockReserved": 9,
        "CapturePayment": 9,
        "PaymentCaptured": 8,
        "ShipOrder": 10,
    }

    assert resent_commands(by_type, orders=10) == {
        "ReserveStock": 2,
        "CapturePayment": 0,
        "ShipOrder": 2,
    }
