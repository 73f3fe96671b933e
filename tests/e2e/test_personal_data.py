"""A customer's name, email and address are kept only sealed, and erasing them reaches every
service that holds them.

Against the six running services, checkout places two orders for a marked customer whose
name, email and street exist nowhere else (one on checkout.orders.v1, one through
``POST /orders``), and the saga carries both to completion: confirmed, reserved, paid,
shipped, delivered, completed, each step told to the customer. Then the scan: every row
of every table of the six service databases, every record (key, value, headers) of every
topic on the broker, and every service log, searched (ignoring case) for the name, the
email and the street. It must find nothing. Excluded are exactly the OrderPlaced records
of the two orders on checkout.orders.v1: the contract's way in carries what the customer
typed, and that topic's retention is checkout's (the order service, which publishes the
second on checkout's behalf, keeps no payload of it in its outbox once sent). To show that
the scan can see what it looks for, it must find the email in both excluded records, and
the order's id in a table, a topic and a log.

Support still reads the customer's details on the order (opened from the sealed copy).
After ``customers erase``, the order service's key and the copies the inventory and
notification services keep of it are destroyed (CustomerErased), and the orders show the
customer as erased.
"""

from __future__ import annotations

import json
import random
from uuid import uuid4

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from orderly_dev.checkout import headers_for, make_order
from orderly_dev.eventually import eventually
from orderly_dev.scan import Record, database_rows, every_record, hits, log_lines
from orderly_dev.stack import Stack, database_name
from orderly_dev.watch import OrderWatcher
from orderly_kit.auth import Role
from orderly_schemas import topics
from orderly_schemas.checkout import Customer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: The services that keep a customer's data key: their own copy, erased with the customer.
KEY_HOLDERS = ("order", "inventory", "notification")


def lowered(text: str) -> str:
    return text.lower()


def key_state(stack: Stack, service: str, customer_id: str) -> tuple[bool, bool] | None:
    """(holds a wrapped key, erased) of the customer in the service's customer_keys."""
    with psycopg.connect(stack.servers.postgres.libpq(database_name(service))) as conn:
        row = conn.execute(
            "SELECT wrapped_key IS NOT NULL, erased_at IS NOT NULL FROM customer_keys"
            " WHERE customer_id = %s",
            (customer_id,),
        ).fetchone()
    return None if row is None else (bool(row[0]), bool(row[1]))


async def test_personal_data_is_kept_only_sealed_and_erased_everywhere(stack: Stack) -> None:
    marker = uuid4().hex[:12]
    name, email, street = f"Piimark {marker}", f"piimark.{marker}@example.com", f"{marker} Lane"
    customer_id = f"C-PII-{marker}"
    order, by_http = (
        made.model_copy(
            update={
                "customer": Customer(customer_id=customer_id, email=email, name=name),
                "shipping_address": made.shipping_address.model_copy(
                    update={"name": name, "line1": street}
                ),
            }
        )
        for made in (make_order(random.Random(marker)), make_order(random.Random(marker[::-1])))
    )
    ids = [order.order_id, by_http.order_id]
    bootstrap = stack.servers.kafka.bootstrap
    support = stack.headers(Role.SUPPORT, sub="sam")

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        async with OrderWatcher(bootstrap) as watcher:
            await producer.send_and_wait(
                topics.CHECKOUT_ORDERS,
                order.model_dump_json().encode(),
                key=str(order.order_id).encode(),
                headers=headers_for(order),
            )
            async with httpx.AsyncClient(headers=stack.headers(Role.CHECKOUT)) as http:
                r = await http.post(
                    f"{stack.url('order')}/orders", json=json.loads(by_http.model_dump_json())
                )
                assert r.status_code == 202, r.text
            outcome = await watcher.wait_terminal(ids, 120)
    finally:
        await producer.stop()
    assert outcome == dict.fromkeys(ids, "OrderCompleted")

    async with httpx.AsyncClient(headers=support, timeout=10) as http:
        # Every step was told to the customer (so notification has done its part).
        async def all_told() -> bool:
            for order_id in ids:
                r = await http.get(
                    f"{stack.url('notification')}/notifications",
                    params={"order_id": str(order_id)},
                )
                if "OrderCompleted" not in {n["event_type"] for n in r.json()}:
                    return False
            return True

        await eventually(all_told, within=30, what="the completion told to the customer")
        shown = (await http.get(f"{stack.url('order')}/orders/{order.order_id}")).json()
    assert (shown["customer"]["name"], shown["customer"]["email"]) == (name, email)
    assert shown["shipping_address"]["line1"] == street

    # The scan.
    records = await every_record(bootstrap)

    keys = {str(order_id).encode() for order_id in ids}

    def placed(r: Record) -> bool:
        return r.topic == topics.CHECKOUT_ORDERS and r.key in keys

    scanned = [r.document() for r in records if not placed(r)]
    excluded = [r.document() for r in records if placed(r)]
    documents = database_rows(stack) + scanned + log_lines(stack)
    found = [
        hit
        for needle in (name, email, street)
        for hit in hits(documents, needle.lower(), normalise=lowered)
    ]
    assert found == [], "the customer's personal data is kept in plaintext:\n" + "\n".join(found)

    # The scan sees what it looks for: the email in both records it leaves out, and the
    # order's id in a table, a topic and a log.
    assert len(hits(excluded, email, normalise=lowered)) == 2
    seen_in = {where.split(" ", 1)[0] for where in hits(documents, str(order.order_id))}
    assert seen_in == {"db", "kafka", "log"}
    assert {s: key_state(stack, s, customer_id) for s in KEY_HOLDERS} == dict.fromkeys(
        KEY_HOLDERS, (True, False)
    )

    # Erasure reaches every holder of a copy of the key.
    out = stack.run_command("order", "customers", "erase", customer_id, "--operator", "e2e")
    assert f"customer {customer_id} erased (data key destroyed" in out, out

    async def erased_everywhere() -> bool:
        states = {s: key_state(stack, s, customer_id) for s in KEY_HOLDERS}
        return states == dict.fromkeys(KEY_HOLDERS, (False, True))

    await eventually(erased_everywhere, within=30, what="the customer's keys destroyed")
    async with httpx.AsyncClient(headers=support, timeout=10) as http:
        for order_id in ids:
            shown = (await http.get(f"{stack.url('order')}/orders/{order_id}")).json()
            assert shown["customer"] == {
                "customer_id": customer_id,
                "name": None,
                "email": None,
                "erased": True,
            }
            assert shown["shipping_address"] is None
    # Told on customer.events.v1, keyed by the customer, carrying nothing but their id.
    erasures = [
        json.loads(r.value or b"{}")
        for r in await every_record(bootstrap)
        if r.topic == topics.CUSTOMER_EVENTS and r.headers.get("ce_type") == "CustomerErased"
    ]
    assert {"customer_id": customer_id} in [{"customer_id": e["customer_id"]} for e in erasures]
