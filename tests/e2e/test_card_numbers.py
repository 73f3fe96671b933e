"""Card numbers never enter the platform: every way in refuses them, and none is stored.

Against the six running services, a Luhn-valid test card number is sent every way it
could come in: as the payment token of an OrderPlaced (plain and spaced), in an
OrderPlaced's free-text address line, as the token of a CapturePayment and in the
reason of a RefundPayment sent straight to payment.commands.v1, and in the bodies of
POST /orders and POST /orders/{ref}/cancel. Each is refused: a dead letter naming the
field, or a 422 naming the field.

Then the scan: every row of every table of the six service databases, every record
(key, value, headers) of every topic on the broker, and every service log, searched for
the number's digits after removing spaces and dashes from the scanned text. It must
find nothing. Excluded are exactly the records this test itself published to the input
topics checkout.orders.v1 and payment.commands.v1: they came from outside, and their
retention is not ours. Everything else on those two topics (the order service's own
OrderPlaced and CapturePayment) is scanned. To show that the scan can see what it
looks for, it must find the number in those excluded records, and the id of a refused
order in a table, a dead-letter topic and a log.
"""

from __future__ import annotations

import json
import random
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from orderly_dev.checkout import make_order
from orderly_dev.eventually import eventually
from orderly_dev.scan import Record, database_rows, every_record, hits, log_lines
from orderly_dev.stack import Stack
from orderly_dev.watch import OrderWatcher
from orderly_kit.auth import Role
from orderly_schemas import topics
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.payment import CapturePayment, RefundPayment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CARD = "4000056655665556"  # Luhn-valid (a provider's test card), used nowhere else
SPACED = "4000 0566 5566 5556"
DASHED = "4000-0566-5566-5556"
SOURCE = "/orderly/e2e-card-numbers"
INPUT_TOPICS = frozenset({topics.CHECKOUT_ORDERS, topics.PAYMENT_COMMANDS})
RULE = "looks like a card number; send the provider's token instead"


def normalised(text: str) -> str:
    return text.replace(" ", "").replace("-", "")


def sent_by_this_test(record: Record) -> bool:
    return record.topic in INPUT_TOPICS and record.headers.get("ce_source") == SOURCE


def envelope(message_type: str, order_id: UUID) -> tuple[str, list[tuple[str, bytes]]]:
    env = Envelope(
        type=message_type, source=SOURCE, subject=str(order_id), correlation_id=str(order_id)
    )
    return env.id, [(k, v.encode()) for k, v in env.to_headers().items()]


async def send(
    producer: AIOKafkaProducer, topic: str, message_type: str, order_id: UUID, body: dict[str, Any]
) -> str:
    """Publish ``body`` as upstream would; returns its message id."""
    message_id, headers = envelope(message_type, order_id)
    await producer.send_and_wait(
        topic, json.dumps(body).encode(), key=str(order_id).encode(), headers=headers
    )
    return message_id


async def dead_letters(bootstrap: str, wanted: dict[str, int], seconds: float = 90) -> list[Record]:
    """The dead letters of the wanted message ids (``ce_id`` -> how many), once all arrived."""

    async def all_arrived() -> list[Record]:
        letters = [
            r
            for r in await every_record(bootstrap)
            if r.topic.endswith(topics.DEAD_LETTER_SUFFIX) and r.headers.get("ce_id") in wanted
        ]
        counts = {m: sum(r.headers["ce_id"] == m for r in letters) for m in wanted}
        return letters if counts == wanted else []

    return await eventually(
        all_arrived, within=seconds, what=f"dead letters (ce_id: count) {wanted}", every=1
    )


def order_body(**payment_and_address: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(make_order(random.Random()).model_dump_json())
    if "token" in payment_and_address:
        body["payment"]["token"] = payment_and_address["token"]
    if "line2" in payment_and_address:
        body["shipping_address"]["line2"] = payment_and_address["line2"]
    return body


async def test_a_card_number_is_refused_everywhere_and_stored_nowhere(stack: Stack) -> None:
    bootstrap = stack.servers.kafka.bootstrap
    order_url = stack.url("order")
    placed = [
        ("payment.token", order_body(token=CARD)),
        ("payment.token", order_body(token=SPACED)),  # the schema's pattern refuses it too
        ("shipping_address.line2", order_body(line2=f"Apt 3 (card {DASHED})")),
    ]
    control = make_order(random.Random())
    capture = CapturePayment(
        order_id=uuid4(),
        amount=Money(amount=1200, currency="EUR"),
        payment=PaymentDetails(method="credit_card", token=CARD),
    )
    refund = RefundPayment(
        order_id=uuid4(),
        refund_id="card-refund",
        amount=Money(amount=1200, currency="EUR"),
        reason=f"customer asks for the refund on {SPACED}",
    )

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        async with OrderWatcher(bootstrap) as watcher:
            refused_orders = {
                await send(
                    producer, topics.CHECKOUT_ORDERS, "OrderPlaced", UUID(b["order_id"]), b
                ): field
                for field, b in placed
            }
            await send(
                producer,
                topics.CHECKOUT_ORDERS,
                "OrderPlaced",
                control.order_id,
                json.loads(control.model_dump_json()),
            )
            refused_commands = {
                await send(
                    producer,
                    topics.PAYMENT_COMMANDS,
                    "CapturePayment",
                    capture.order_id,
                    json.loads(capture.model_dump_json()),
                ): "payment.token",
                await send(
                    producer,
                    topics.PAYMENT_COMMANDS,
                    "RefundPayment",
                    refund.order_id,
                    json.loads(refund.model_dump_json()),
                ): "reason",
            }

            # Over HTTP: a new order, and the cancel of a live one, both refused.
            # A caller that may both place orders and cancel them.
            caller = stack.headers(Role.CHECKOUT, Role.SUPPORT)
            async with httpx.AsyncClient(base_url=order_url, headers=caller, timeout=10) as http:
                for body, loc in (
                    (order_body(token=CARD), ["body", "payment", "token"]),
                    (order_body(line2=SPACED), ["body", "shipping_address", "line2"]),
                ):
                    r = await http.post("/orders", json=body)
                    assert (r.status_code, r.json()["detail"]) == (
                        422,
                        [{"loc": loc, "msg": RULE, "type": "card_number"}],
                    )
                    assert CARD not in normalised(r.text)
                    assert (await http.get(f"/orders/{body['order_id']}")).status_code == 404

                async def control_known() -> bool:
                    return (await http.get(f"/orders/{control.order_id}")).status_code == 200

                await eventually(control_known, within=20, what="the control order's view")
                r = await http.post(
                    f"/orders/{control.order_id}/cancel", json={"reason": f"refund {DASHED}"}
                )
                assert (r.status_code, r.json()["detail"][0]["loc"]) == (422, ["body", "reason"])
                assert CARD not in normalised(r.text)

            outcome = await watcher.wait_terminal([control.order_id], 90)
        # The refused cancel changed nothing: the control order went its way.
        assert outcome[control.order_id] == "OrderCompleted"
    finally:
        await producer.stop()

    # Each refused message has its dead letter, naming the field: both consumers of
    # checkout.orders.v1 (order, analytics) and the payment service.
    wanted = {m: 2 for m in refused_orders} | {m: 1 for m in refused_commands}
    letters = await dead_letters(bootstrap, wanted)
    for letter in letters:
        field = (refused_orders | refused_commands)[letter.headers["ce_id"]]
        assert letter.headers["dlq_error_type"] == "CardNumberError", letter
        assert f"field {field}: {RULE}" in letter.headers["dlq_error"], letter
    assert {r.headers["dlq_consumer"] for r in letters} == {"order", "analytics", "payment"}

    # The scan.
    records = await every_record(bootstrap)
    scanned = [r.document() for r in records if not sent_by_this_test(r)]
    excluded = [r.document() for r in records if sent_by_this_test(r)]
    documents = database_rows(stack) + scanned + log_lines(stack)
    found = hits(documents, CARD, normalise=normalised)
    assert found == [], "the card number is stored:\n" + "\n".join(found)

    # The scan sees what it looks for: the number in the input records it leaves out
    # (spaced and dashed too), and a refused order's id (dashes removed) in a table,
    # a dead-letter topic and a log.
    assert len(hits(excluded, CARD, normalise=normalised)) == len(refused_orders) + len(
        refused_commands
    )
    refused_id = UUID(placed[0][1]["order_id"]).hex
    seen_in = {
        where.split(" ", 1)[0] for where in hits(documents, refused_id, normalise=normalised)
    }
    assert seen_in == {"db", "kafka", "log"}

    # As the replay's refusal tells an operator: discard the letters (the senders must
    # send again with a token), so that nothing waits once the test is over.
    for service in ("order", "analytics", "payment"):
        ids = sorted({d.headers["ce_id"] for d in letters if d.headers["dlq_consumer"] == service})
        out = stack.run_command(
            service,
            "dead-letters",
            "discard",
            *ids,
            "--operator",
            "e2e",
            "--reason",
            "carried a card number; the sender sends it again with the provider's token",
        )
        assert out.count("discarded ") == len(ids), out
