"""The subscribers route each payment command to its handler, through the kit's inbox.

FastStream's in-memory test broker runs the real subscribers, filters and the
kit's transactional middleware against a real database, without joining consumer
groups or creating topics on the session's shared Kafka broker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from sqlalchemy import select

from orderly_kit import migrations
from orderly_kit.card_data import MARKER
from orderly_kit.clock import ManualClock
from orderly_kit.service import Service
from orderly_payment.adapters.orm import charges, outbox, payment_operations, payments
from orderly_payment.bootstrap import MIGRATIONS, build
from orderly_payment.settings import PaymentSettings
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.payment import CapturePayment, ChargePayment, RefundPayment
from orderly_schemas.topics import dead_letter_topic


@pytest.fixture
async def service(fresh_database: str, clock: ManualClock) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    built = build(
        PaymentSettings(
            database_url=fresh_database,
            log_json=False,
            consumer_max_attempts=2,
            consumer_retry_backoff_ms=0,
        ),
        clock=clock,
    )
    built.consumer()  # the subscriber start() builds, for FastStream's test broker
    yield built
    await built.database.dispose()


def capture(token: str) -> CapturePayment:
    return CapturePayment(
        order_id=uuid4(),
        amount=Money(amount=1200, currency="EUR"),
        payment=PaymentDetails(method="credit_card", token=token),
    )


async def publish(
    broker: KafkaBroker,
    command: CapturePayment | RefundPayment | ChargePayment,
    *,
    message_id: str,
) -> None:
    envelope = Envelope(
        id=message_id, type=command.message_type(), source="/test", subject=str(command.order_id)
    )
    await broker.publish(
        command.model_dump_json().encode(),
        topic=command.topic,
        key=str(command.order_id).encode(),
        headers=envelope.to_headers(),
    )


async def outbox_rows(service: Service) -> list[tuple[str, str, dict[str, str]]]:
    """(topic, type, headers) of every outbox row, oldest first."""
    query = select(outbox.c.topic, outbox.c.message_type, outbox.c.headers).order_by(outbox.c.id)
    async with service.database.sessions() as session:
        return [(r.topic, r.message_type, r.headers) for r in await session.execute(query)]


async def test_a_redelivered_capture_is_handled_once(service: Service) -> None:
    command = capture("tok_visa_ok")

    async with TestKafkaBroker(service.broker) as broker:
        for _ in range(2):
            await publish(broker, command, message_id="capture-1")

    assert [(t, kind) for t, kind, _ in await outbox_rows(service)] == [
        ("payment.events.v1", "PaymentCaptured")
    ]
    async with service.database.sessions() as session:
        assert len((await session.execute(select(payments))).all()) == 1


async def test_a_card_number_token_is_dead_lettered_without_the_number(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    card = "5555555555554444"

    async with TestKafkaBroker(service.broker) as broker:
        await publish(broker, capture(card), message_id="capture-card")

    [(topic, _, headers)] = await outbox_rows(service)
    assert topic == dead_letter_topic("payment.commands.v1")
    assert "payment.token" in headers["dlq_error"]
    assert card not in headers["dlq_error"]
    # Refused by the kit's guard before the handler (or the command's model) sees it.
    assert headers["dlq_error_type"] == "CardNumberError"
    assert json.loads(await dead_letter_payload(service))["payment"]["token"] == MARKER
    assert "dead-lettering" in caplog.text
    assert card not in caplog.text


async def test_a_refund_whose_reason_holds_a_card_number_is_dead_lettered_without_it(
    service: Service,
) -> None:
    refund = RefundPayment(
        order_id=uuid4(),
        refund_id="r-card",
        amount=Money(amount=1200, currency="EUR"),
        reason="customer asked to refund to 4000 0566 5566 5556",
    )

    async with TestKafkaBroker(service.broker) as broker:
        await publish(broker, refund, message_id="refund-card")

    [(_, kind, headers)] = await outbox_rows(service)
    assert (kind, headers["dlq_error_type"]) == ("RefundPayment", "CardNumberError")
    assert "field reason" in headers["dlq_error"]
    payload = json.loads(await dead_letter_payload(service))
    assert (payload["reason"], payload["refund_id"]) == (MARKER, "r-card")


async def dead_letter_payload(service: Service) -> bytes:
    async with service.database.sessions() as session:
        return bytes(await session.scalar(select(outbox.c.payload)) or b"")


async def test_a_capture_the_provider_never_answers_is_retried_then_dead_lettered(
    service: Service,
) -> None:
    async with TestKafkaBroker(service.broker) as broker:
        await publish(broker, capture("tok_timeout_1"), message_id="capture-timeout")

    [(topic, kind, headers)] = await outbox_rows(service)
    assert (topic, kind) == (dead_letter_topic("payment.commands.v1"), "CapturePayment")
    assert (headers["dlq_error_type"], headers["dlq_attempts"]) == ("ProviderTimeoutError", "2")
    # The ledger keeps the unanswered authorization, retried under its key on a re-send.
    async with service.database.sessions() as session:
        assert (await session.execute(select(payments.c.status))).scalars().all() == ["not_paid"]
        entries = await session.execute(
            select(payment_operations.c.kind, payment_operations.c.status)
        )
        assert entries.tuples().all() == [("authorize", "requested")]


async def test_a_refund_before_the_capture_voids_it_and_the_late_capture_fails(
    service: Service,
) -> None:
    command = capture("tok_visa_ok")
    cancel = RefundPayment(
        order_id=command.order_id, refund_id="cancel-1", amount=command.amount, reason="cancelled"
    )

    async with TestKafkaBroker(service.broker) as broker:
        await publish(broker, cancel, message_id="refund-1")
        await publish(broker, command, message_id="capture-late")

    assert [kind for _, kind, _ in await outbox_rows(service)] == [
        "PaymentVoided",
        "PaymentFailed",
    ]


async def test_the_service_retries_a_rejected_refund_on_its_schedule(
    service: Service, clock: ManualClock
) -> None:
    command = capture("tok_refundflaky_1")
    refund = RefundPayment(
        order_id=command.order_id, refund_id="r1", amount=command.amount, reason="cancelled"
    )
    async with TestKafkaBroker(service.broker) as broker:
        await publish(broker, command, message_id="capture-1")
        await publish(broker, refund, message_id="refund-1")
    [job] = [job for name, _, job in service.jobs if name == "retry-due-refunds"]

    # Two rejections: the job runs once the default backoff has passed after each (30 s,
    # then 60 s, each at its longest: jitter only shortens them).
    for backoff in (timedelta(seconds=30), timedelta(seconds=60)):
        clock.advance(backoff)
        await job()

    assert [kind for _, kind, _ in await outbox_rows(service)] == [
        "PaymentCaptured",
        "PaymentRefunded",
    ]
    async with service.database.sessions() as session:
        attempts = (
            (
                await session.execute(
                    select(payment_operations.c.status)
                    .where(payment_operations.c.kind == "refund")
                    .order_by(payment_operations.c.attempt)
                )
            )
            .scalars()
            .all()
        )
    assert attempts == ["failed", "failed", "succeeded"]


async def test_a_charge_after_the_capture_is_taken_once_however_often_it_is_delivered(
    service: Service,
) -> None:
    command = capture("tok_visa_ok")
    first, declined = (
        ChargePayment(
            order_id=command.order_id,
            charge_id=f"exchange:{n}",
            amount=Money(amount=350, currency="EUR"),
            payment=PaymentDetails(method="credit_card", token=token),
            reason="exchange: the replacement costs more",
        )
        for n, token in ((1, "tok_visa_ok"), (2, "tok_decline_expired_1"))
    )

    async with TestKafkaBroker(service.broker) as broker:
        await publish(broker, command, message_id="capture-1")
        for _ in range(2):
            await publish(broker, first, message_id="charge-1")
        await publish(broker, first, message_id="charge-1-resent")
        await publish(broker, declined, message_id="charge-2")

    assert [(t, kind) for t, kind, _ in await outbox_rows(service)] == [
        ("payment.events.v1", "PaymentCaptured"),
        ("payment.events.v1", "PaymentCharged"),
        ("payment.events.v1", "PaymentCharged"),  # the re-sent command, answered again
        ("payment.events.v1", "ChargeFailed"),
    ]
    async with service.database.sessions() as session:
        rows = await session.execute(
            select(charges.c.charge_id, charges.c.status, charges.c.failure_reason).order_by(
                charges.c.charge_id
            )
        )
        assert rows.tuples().all() == [
            ("exchange:1", "succeeded", None),
            ("exchange:2", "failed", "card expired"),
        ]
        taken = await session.execute(
            select(payment_operations.c.status).where(payment_operations.c.kind == "charge")
        )
        assert sorted(taken.scalars().all()) == ["failed", "succeeded"]
