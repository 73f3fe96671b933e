"""The whole suite, end to end: six service processes, their databases and the broker."""

from __future__ import annotations

import asyncio
import json
import random
from uuid import UUID, uuid4

import httpx
import pytest
from aiokafka.partitioner import murmur2

from orderly_dev.checkout import DEMO_SKUS, SOLDOUT_SKU, Checkout, headers_for, make_order
from orderly_dev.eventually import eventually
from orderly_dev.faults import query
from orderly_dev.stack import Stack
from orderly_dev.watch import OrderWatcher, read_topic
from orderly_kit.auth import Role
from orderly_schemas import topics
from orderly_schemas.base import Money, OrderLine
from orderly_schemas.checkout import OrderPlaced

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LIFECYCLE = [
    "OrderConfirmed",
    "OrderPaid",
    "OrderDispatched",
    "OrderDelivered",
    "OrderCompleted",
]


async def place(stack: Stack, orders: list, *, concurrency: int = 50) -> None:  # type: ignore[type-arg]
    async with Checkout(stack.servers.kafka.bootstrap) as checkout:
        sem = asyncio.Semaphore(concurrency)

        async def one(o: object) -> None:
            async with sem:
                await checkout.place(o)  # type: ignore[arg-type]

        await asyncio.gather(*(one(o) for o in orders))


def order_view(stack: Stack, ref: str | UUID) -> dict:  # type: ignore[type-arg]
    r = httpx.get(
        f"{stack.url('order')}/orders/{ref}", headers=stack.headers(Role.SUPPORT), timeout=10
    )
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


def stock(stack: Stack, sku: str) -> dict:  # type: ignore[type-arg]
    r = httpx.get(
        f"{stack.url('inventory')}/stock/{sku}", headers=stack.headers(Role.WAREHOUSE), timeout=10
    )
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


async def test_200_orders_placed_on_kafka_all_complete(stack: Stack) -> None:
    rng = random.Random(200)
    orders = [make_order(rng) for _ in range(200)]
    async with OrderWatcher(stack.servers.kafka.bootstrap) as watcher:
        await place(stack, orders)
        outcome = await watcher.wait_terminal([o.order_id for o in orders], 240)
        assert list(outcome.values()).count("OrderCompleted") == 200, {
            k: v for k, v in outcome.items() if v != "OrderCompleted"
        }
        # Every order's public events arrive in saga order, on one partition.
        for o in orders:
            seen = [e for e in watcher.events[o.order_id] if e.type in LIFECYCLE]
            assert [e.type for e in seen] == LIFECYCLE, o.order_id
            assert len({e.partition for e in seen}) == 1
            assert [e.offset for e in seen] == sorted(e.offset for e in seen)
    sample = orders[0]
    view = order_view(stack, sample.order_id)
    assert view["status"] == "completed"
    assert view["order_number"].startswith("ORD-")
    assert [h["status"] for h in view["status_history"]] == [
        "confirmed",
        "reserved",
        "paid",
        "shipped",
        "delivered",
        "completed",
    ]
    assert view["carrier"]
    assert view["tracking_numbers"]
    assert view["total"] == sample.total.model_dump()
    # Support sees how it was paid, never the token.
    assert view["payment"] == sample.payment.model_dump(exclude={"token"})
    assert sample.payment.token not in json.dumps(view)
    paid = httpx.get(
        f"{stack.url('payment')}/payments/{sample.order_id}",
        headers=stack.headers(Role.FINANCE),
        timeout=10,
    ).json()
    assert (paid["method"], paid["last4"], paid["status"]) == (
        sample.payment.method,
        sample.payment.last4,
        "captured",
    )
    # The same order, looked up by its human-readable number.
    assert order_view(stack, view["order_number"])["order_id"] == str(sample.order_id)

    # Analytics is a read model: it catches up with the lifecycle, it is not in step with it.
    def kpis_once_200_completed() -> dict | None:  # type: ignore[type-arg]
        kpis = httpx.get(
            f"{stack.url('analytics')}/kpis", headers=stack.headers(Role.SUPPORT), timeout=10
        ).json()
        return kpis if kpis["orders_by_status"].get("completed", 0) >= 200 else None

    kpis = await eventually(
        kpis_once_200_completed, within=60, what="analytics counting 200 orders completed"
    )
    assert kpis["placed_to_shipped_seconds"]["count"] >= 200
    assert 0 < kpis["placed_to_shipped_seconds"]["p50"] <= kpis["placed_to_shipped_seconds"]["p95"]


async def test_stock_short_order_is_rejected_while_others_complete(stack: Stack) -> None:
    rng = random.Random(7)
    short = [make_order(rng, sold_out=True) for _ in range(3)]
    fine = [make_order(rng) for _ in range(12)]
    before = stock(stack, "DEMO-0001")
    async with OrderWatcher(stack.servers.kafka.bootstrap) as watcher:
        await place(stack, short + fine)
        outcome = await watcher.wait_terminal([o.order_id for o in short + fine], 120)
    assert {outcome[o.order_id] for o in short} == {"OrderRejected"}
    assert {outcome[o.order_id] for o in fine} == {"OrderCompleted"}
    rejected = order_view(stack, short[0].order_id)
    assert rejected["status"] == "rejected"
    assert SOLDOUT_SKU in (rejected["status_history"][-1]["reason"] or "")
    # A rejected order reserved nothing, and nothing is left reserved by the others.
    assert stock(stack, SOLDOUT_SKU)["reserved"] == 0
    after = stock(stack, "DEMO-0001")
    shipped = sum(line.quantity for o in fine for line in o.lines if line.sku == "DEMO-0001")
    assert after["on_hand"] == before["on_hand"] - shipped


async def test_malformed_order_placed_goes_to_dead_letter_topic_and_others_proceed(
    stack: Stack,
) -> None:
    good = make_order(random.Random(3))
    bad = json.loads(make_order(random.Random(4)).model_dump_json())
    bad["lines"][0]["quantity"] = -2
    bad_headers = headers_for(make_order(order_id=UUID(bad["order_id"])))
    bad_id = dict(bad_headers)["ce_id"].decode()
    async with (
        OrderWatcher(stack.servers.kafka.bootstrap) as watcher,
        Checkout(stack.servers.kafka.bootstrap) as checkout,
    ):
        await checkout.send_raw(json.dumps(bad).encode(), key=bad["order_id"], headers=bad_headers)
        await checkout.send_raw(b"{not json", key="junk", headers=headers_for(make_order()))
        await checkout.place(good)
        outcome = await watcher.wait_terminal([good.order_id], 60)
    assert outcome[good.order_id] == "OrderCompleted"
    dead = await read_topic(
        stack.servers.kafka.bootstrap, topics.dead_letter_topic(topics.CHECKOUT_ORDERS)
    )
    # Each service that consumes the topic dead-letters the message under its own name.
    letters = {d.headers["dlq_consumer"]: d for d in dead if d.headers.get("ce_id") == bad_id}
    assert set(letters) == {"order", "analytics"}
    letter = letters["order"]
    assert "lines.0.quantity" in letter.headers["dlq_error"]
    assert letter.headers["dlq_original_topic"] == topics.CHECKOUT_ORDERS
    assert letter.body == bad  # the original value, untouched
    assert any("Invalid JSON" in d.headers.get("dlq_error", "") for d in dead)
    r = httpx.get(
        f"{stack.url('order')}/orders/{bad['order_id']}",
        headers=stack.headers(Role.SUPPORT),
        timeout=10,
    )
    assert r.status_code == 404


async def test_redelivered_messages_change_nothing(stack: Stack) -> None:
    order = make_order(random.Random(11))
    bootstrap = stack.servers.kafka.bootstrap
    async with OrderWatcher(bootstrap) as watcher:
        await place(stack, [order])
        assert (await watcher.wait_terminal([order.order_id], 60))[
            order.order_id
        ] == "OrderCompleted"
        before_view = order_view(stack, order.order_id)
        before_stock = {line.sku: stock(stack, line.sku) for line in order.lines}
        before_events = len(watcher.events[order.order_id])
        # Redeliver, byte for byte, every message the saga exchanged for this order.
        key = str(order.order_id)
        async with Checkout(bootstrap) as checkout:
            for topic in (
                topics.CHECKOUT_ORDERS,
                topics.INVENTORY_COMMANDS,
                topics.INVENTORY_EVENTS,
                topics.PAYMENT_COMMANDS,
                topics.PAYMENT_EVENTS,
            ):
                for m in await read_topic(bootstrap, topic, idle_ms=500):
                    if m.headers.get("ce_subject") == key:
                        await checkout._producer.send_and_wait(
                            topic,
                            json.dumps(m.body).encode(),
                            key=key.encode(),
                            headers=[(k, v.encode()) for k, v in m.headers.items()],
                        )
            # And a checkout retry: the same order under a new message id.
            await checkout.place(order)
            # Then a sentinel order on the same partition of every topic: each consumer reads
            # a partition in order, so once the sentinel completed, every redelivery before
            # it was handled, and what it caused was published before the sentinel's events.
            sentinel = an_order_beside(order, partitions=stack.partitions)
            await checkout.place(sentinel)
        completed = await watcher.wait_terminal([sentinel.order_id], 60)
        assert completed[sentinel.order_id] == "OrderCompleted"
        assert len(watcher.events[order.order_id]) == before_events
    assert order_view(stack, order.order_id) == before_view
    assert {line.sku: stock(stack, line.sku) for line in order.lines} == before_stock
    payments = httpx.get(
        f"{stack.url('payment')}/payments/{order.order_id}",
        headers=stack.headers(Role.FINANCE),
        timeout=10,
    ).json()
    assert payments["amount"] == order.total.amount


async def test_post_orders_validates_and_publishes(stack: Stack) -> None:
    body = json.loads(make_order(random.Random(5)).model_dump_json())
    del body["order_id"], body["placed_at"]
    bad = json.loads(json.dumps(body))
    bad["lines"][0]["unit_price"]["amount"] = 1.5
    checkout = stack.headers(Role.CHECKOUT, sub="checkout")
    r = httpx.post(f"{stack.url('order')}/orders", json=bad, headers=checkout, timeout=10)
    assert r.status_code == 422
    assert ["body", "lines", 0, "unit_price", "amount"] in [e["loc"] for e in r.json()["detail"]]
    order_id = uuid4()
    body["order_id"] = str(order_id)
    async with OrderWatcher(stack.servers.kafka.bootstrap) as watcher:
        r = httpx.post(f"{stack.url('order')}/orders", json=body, headers=checkout, timeout=10)
        assert r.status_code == 202, r.text
        assert (await watcher.wait_terminal([order_id], 60))[order_id] == "OrderCompleted"


def an_order_beside(order: OrderPlaced, *, partitions: int) -> OrderPlaced:
    """A new order keyed to the same partition as ``order``, of a product it does not hold."""
    partition = partition_of(str(order.order_id), partitions)
    order_id = next(i for i in iter(uuid4, None) if partition_of(str(i), partitions) == partition)
    sku = next(s for s in DEMO_SKUS if s not in {line.sku for line in order.lines})
    line = OrderLine(sku=sku, quantity=1, unit_price=Money(amount=500, currency="EUR"))
    return make_order(random.Random(12), order_id=order_id).model_copy(
        update={"lines": [line], "total": line.unit_price}
    )


def partition_of(key: str, partitions: int) -> int:
    """The partition the producers' default partitioner (Kafka's murmur2) picks for ``key``."""
    hashed: int = murmur2(key.encode())  # aiokafka's partitioner is not annotated
    return (hashed & 0x7FFFFFFF) % partitions


async def test_an_order_split_across_warehouses_ships_as_two_tracked_parcels(stack: Stack) -> None:
    sku = "DEMO-0019"
    available = {w["warehouse"]: w["available"] for w in stock(stack, sku)["warehouses"]}
    # One more than either warehouse holds, so no one warehouse can serve it whole: east
    # (first by priority) gives all it has, west the rest.
    units = max(available.values()) + 1
    line = OrderLine(sku=sku, quantity=units, unit_price=Money(amount=100, currency="EUR"))
    order = make_order(random.Random(19)).model_copy(
        update={"lines": [line], "total": Money(amount=100 * units, currency="EUR")}
    )
    bootstrap = stack.servers.kafka.bootstrap
    async with (
        OrderWatcher(bootstrap) as lifecycle,
        OrderWatcher(bootstrap, topic=topics.INVENTORY_EVENTS) as inventory,
    ):
        await place(stack, [order])
        outcome = await lifecycle.wait_terminal([order.order_id], 90)
        await eventually(
            lambda: inventory.first(order.order_id, "ShipmentDelivered"),
            within=10,
            what="ShipmentDelivered",
        )

    assert outcome[order.order_id] == "OrderCompleted"
    shipped = inventory.first(order.order_id, "OrderShipped")
    assert shipped is not None
    parcels = shipped.body["parcels"]
    assert [(p["warehouse"], p["lines"]) for p in parcels] == [
        ("east", [{"sku": sku, "quantity": available["east"]}]),
        ("west", [{"sku": sku, "quantity": units - available["east"]}]),
    ]
    numbers = [p["tracking_number"] for p in parcels]
    assert len(set(numbers)) == 2
    # Both parcels were tracked over the webhook, then the order was delivered once.
    events = inventory.events[order.order_id]
    tracked = [
        (e.body["tracking_number"], e.body["status"]) for e in events if e.type == "ShipmentTracked"
    ]
    assert sorted(tracked) == sorted(
        (n, s) for n in numbers for s in ("in_transit", "out_for_delivery", "delivered")
    )
    assert [e.type for e in events].count("ShipmentDelivered") == 1
    assert events[-1].type == "ShipmentDelivered"
    view = order_view(stack, order.order_id)
    assert sorted(view["tracking_numbers"]) == sorted(numbers)
    dispatched = lifecycle.first(order.order_id, "OrderDispatched")
    assert dispatched is not None
    assert sorted(dispatched.body["tracking_numbers"]) == sorted(numbers)
    shipment = httpx.get(
        f"{stack.url('inventory')}/shipments/{order.order_id}",
        headers=stack.headers(Role.SUPPORT),
        timeout=10,
    ).json()
    assert shipment["status"] == "delivered"
    assert [[t["status"] for t in p["tracking"]] for p in shipment["parcels"]] == [
        ["in_transit", "out_for_delivery", "delivered"]
    ] * 2


async def test_a_parcel_lost_in_transit_leaves_the_order_needing_attention(stack: Stack) -> None:
    order = make_order(random.Random(23), postal_code="00001")  # undeliverable
    bootstrap = stack.servers.kafka.bootstrap
    async with (
        OrderWatcher(bootstrap) as lifecycle,
        OrderWatcher(bootstrap, topic=topics.INVENTORY_EVENTS) as inventory,
    ):
        await place(stack, [order])
        await eventually(
            lambda: lifecycle.first(order.order_id, "OrderNeedsAttention"),
            within=90,
            what="OrderNeedsAttention",
        )
        # The two watchers read two topics at their own pace: wait for this one too.
        await eventually(
            lambda: inventory.first(order.order_id, "ShipmentFailed"),
            within=30,
            what="ShipmentFailed",
        )

    assert lifecycle.types(order.order_id) == [
        "OrderConfirmed",
        "OrderPaid",
        "OrderDispatched",
        "OrderNeedsAttention",
    ]
    failed = inventory.first(order.order_id, "ShipmentFailed")
    assert failed is not None
    assert "failed in transit with SimPost: no such address" in failed.body["reason"]
    view = order_view(stack, order.order_id)
    assert view["status"] == "needs_attention"
    assert view["status_history"][-1]["reason"].startswith("shipment failed in transit: parcel ")


async def test_a_payment_approved_later_by_the_providers_webhook_completes(stack: Stack) -> None:
    order = make_order(random.Random(24), payment_token="tok_webhook_review", method="third_party")
    async with OrderWatcher(stack.servers.kafka.bootstrap) as lifecycle:
        await place(stack, [order])
        await eventually(
            lambda: lifecycle.first(order.order_id, "OrderCompleted"),
            within=90,
            what="OrderCompleted",
        )

    assert lifecycle.types(order.order_id)[:2] == ["OrderConfirmed", "OrderPaid"]
    paid = httpx.get(
        f"{stack.url('payment')}/payments/{order.order_id}",
        headers=stack.headers(Role.FINANCE),
        timeout=10,
    ).json()
    assert (paid["provider"], paid["status"]) == ("sim-platform", "captured")
    # The authorization was answered by the provider's signed webhook, exactly once.
    deliveries = query(
        stack,
        "payment",
        "SELECT d.type FROM provider_webhook_deliveries d JOIN payment_operations o"
        " ON o.provider_reference = d.reference WHERE o.order_id = :id",
        id=order.order_id,
    )
    assert [d.type for d in deliveries] == ["authorization.succeeded"]
