"""Provider webhooks: a provider's late answer, signed, applied once, carries the saga on.

A ``tok_webhook…`` payment is authorized "pending" by the simulated provider, which
then owes a webhook (a row of ``sim_provider_webhooks``) due a moment later. These
tests deliver it to the service's endpoint, served by uvicorn on a free port, as the
provider would, and as an attacker or a confused provider might: wrongly signed,
late, replayed, with a rotated secret. The last ones run the provider's sender job.

The service and its simulated providers keep time by the test's ManualClock, moved on
to when a webhook is due; signatures are made and checked by the system clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import select

from orderly_dev.servers import free_port, serve_http
from orderly_kit import migrations, webhook_signature
from orderly_kit.clock import ManualClock
from orderly_kit.db import Database
from orderly_kit.service import Service
from orderly_kit.webhook_sender import RETRY_BACKOFF
from orderly_payment import use_cases
from orderly_payment.adapters import orm
from orderly_payment.adapters.providers import (
    WEBHOOK_DECLINED,
    ProviderResult,
    Providers,
    ProviderTimeoutError,
    SimulatedProvider,
)
from orderly_payment.bootstrap import MIGRATIONS, build, providers_for
from orderly_payment.settings import DEV_WEBHOOK_SECRET, PaymentSettings
from orderly_payment.use_cases.payments import Gateway
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails, PaymentMethod
from orderly_schemas.payment import CapturePayment

TOTAL = Money(amount=4999, currency="EUR")
#: How long the simulated provider "reviews" a tok_webhook… authorization.
REVIEW = timedelta(minutes=2)


class Webhooks:
    """Pays as the saga would, delivers what the provider owes, and shows what changed."""

    def __init__(
        self,
        service: Service,
        settings: PaymentSettings,
        clock: ManualClock,
        *,
        providers: Providers | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.clock = clock
        database = service.database
        # By default its own adapters over the same database: the simulated providers keep
        # all their state there, so these are the service's providers.
        self.gateway = Gateway(
            providers=providers or providers_for(settings, database=database, clock=clock),
            database=database,
        )

    def simulated(self, name: str) -> SimulatedProvider:
        provider = self.gateway.providers.named(name)
        assert isinstance(provider, SimulatedProvider)
        return provider

    async def pay(self, token: str, *, method: PaymentMethod = "credit_card") -> UUID:
        """A new order's CapturePayment, handled; returns the order id."""
        order_id = uuid4()
        command = CapturePayment(
            order_id=order_id, amount=TOTAL, payment=PaymentDetails(method=method, token=token)
        )
        async with self.service.messaging.unit_of_work() as uow:
            await use_cases.payments.capture_payment(uow, command, gateway=self.gateway)
        return order_id

    async def owed(self, order_id: UUID) -> dict[str, Any]:
        """The webhook the provider owes for the order, the clock moved on to when it is due."""
        c = orm.sim_provider_webhooks.c
        query = select(orm.sim_provider_webhooks).where(
            c.payload["data"]["order_id"].astext == str(order_id)
        )
        async with self.service.database.sessions() as s:
            row = dict((await s.execute(query)).mappings().one())
        self.clock.advance(max(row["due_at"] - self.clock(), timedelta(0)))
        return row

    async def published(self) -> list[tuple[str, dict[str, Any]]]:
        """(type, body) of every message written to the outbox, oldest first."""
        c = orm.outbox.c
        async with self.service.database.sessions() as s:
            rows = await s.execute(select(c.message_type, c.payload).order_by(c.id))
            return [(kind, json.loads(payload)) for kind, payload in rows]

    async def kinds(self) -> list[str]:
        return [kind for kind, _ in await self.published()]

    async def ledger(self, order_id: UUID) -> list[tuple[str, str]]:
        """(kind, status) of the order's ledger entries, in order."""
        c = orm.payment_operations.c
        query = select(c.kind, c.status).where(c.order_id == order_id).order_by(c.id)
        async with self.service.database.sessions() as s:
            return [(r.kind, r.status) for r in await s.execute(query)]

    async def payment_status(self, order_id: UUID) -> str:
        c = orm.payments.c
        async with self.service.database.sessions() as s:
            return str(await s.scalar(select(c.status).where(c.order_id == order_id)))

    async def deliveries(self) -> list[tuple[str, str, str, str]]:
        """(provider, delivery id, type, outcome) of every delivery remembered."""
        c = orm.provider_webhook_deliveries.c
        query = select(c.provider, c.delivery_id, c.type, c.outcome).order_by(c.received_at)
        async with self.service.database.sessions() as s:
            return [(r.provider, r.delivery_id, r.type, r.outcome) for r in await s.execute(query)]

    async def webhook_rows(self) -> list[dict[str, Any]]:
        """The simulated providers' webhook queue, oldest first."""
        query = select(orm.sim_provider_webhooks).order_by(orm.sim_provider_webhooks.c.id)
        async with self.service.database.sessions() as s:
            return [dict(r) for r in (await s.execute(query)).mappings()]

    async def provider_operations(self, order_id: UUID) -> list[tuple[str, str]]:
        """(kind, outcome) of what the simulated provider executed for the order."""
        c = orm.sim_provider_operations.c
        query = select(c.kind, c.outcome).where(c.order_id == order_id).order_by(c.id)
        async with self.service.database.sessions() as s:
            return [(r.kind, r.outcome) for r in await s.execute(query)]


def settings_for(database_url: str, **overrides: Any) -> PaymentSettings:
    settings: dict[str, Any] = {
        "database_url": database_url,
        "database_pool_size": 10,
        "log_json": False,
        "sim_webhook_delay_seconds": REVIEW.total_seconds(),
    }
    return PaymentSettings(**(settings | overrides))


@pytest.fixture
async def settings(fresh_database: str, request: pytest.FixtureRequest) -> PaymentSettings:
    """The service's settings on a migrated database; an indirect parameter overrides some."""
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    return settings_for(fresh_database, **getattr(request, "param", {}))


@asynccontextmanager
async def running(
    settings: PaymentSettings, clock: ManualClock, *, providers: Providers | None = None
) -> AsyncIterator[Webhooks]:
    """The service built (not started) from ``settings`` on ``clock``, and its driver; pools
    closed after."""
    service = build(settings, providers=providers, clock=clock)
    try:
        yield Webhooks(service, settings, clock, providers=providers)
    finally:
        await service.database.dispose()


@pytest.fixture
async def webhooks(settings: PaymentSettings, clock: ManualClock) -> AsyncIterator[Webhooks]:
    async with running(settings, clock) as driver:
        yield driver


@pytest.fixture
async def base_url(webhooks: Webhooks) -> AsyncIterator[str]:
    """The service's HTTP API over real HTTP."""
    async with serve_http(webhooks.service.http) as base:
        yield base


async def post(
    url: str,
    body: dict[str, Any] | bytes,
    *,
    secrets: list[str] | None = None,
    at: datetime | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST ``body`` signed with ``secrets`` at ``at`` (or with ``signature``; "" for none)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature is None:
        signature = webhook_signature.sign(
            raw, secrets=secrets or [DEV_WEBHOOK_SECRET], at=at or datetime.now(UTC)
        )
    if signature:
        headers[webhook_signature.HEADER] = signature
    async with httpx.AsyncClient() as client:
        return await client.post(url, content=raw, headers=headers)


def card_hook(base: str) -> str:
    return f"{base}/providers/sim-card/webhooks"


# -- the provider's answer arrives --------------------------------------------------------------
async def test_an_approval_by_webhook_captures_the_payment_and_announces_it(
    webhooks: Webhooks, base_url: str
) -> None:
    order = await webhooks.pay("tok_webhook_1")
    assert await webhooks.ledger(order) == [("authorize", "pending")]
    assert await webhooks.kinds() == []  # the saga waits for the provider
    owed = await webhooks.owed(order)

    answer = await post(card_hook(base_url), owed["payload"])

    assert (answer.status_code, answer.json()) == (200, {"outcome": "confirmed"})
    assert await webhooks.ledger(order) == [("authorize", "succeeded"), ("capture", "succeeded")]
    [(kind, captured)] = await webhooks.published()
    assert kind == "PaymentCaptured"
    assert (captured["order_id"], captured["amount"]) == (str(order), TOTAL.model_dump())
    assert captured["provider_reference"].startswith("simcard_ch_")
    assert await webhooks.payment_status(order) == "captured"
    assert await webhooks.deliveries() == [
        ("sim-card", owed["delivery_id"], "authorization.succeeded", "confirmed")
    ]


async def test_a_decline_by_webhook_fails_the_payment_with_the_providers_reason(
    webhooks: Webhooks, base_url: str
) -> None:
    order = await webhooks.pay("tok_webhook_decline_1")
    owed = await webhooks.owed(order)

    answer = await post(card_hook(base_url), owed["payload"])

    assert (answer.status_code, answer.json()) == (200, {"outcome": "confirmed"})
    assert await webhooks.ledger(order) == [("authorize", "failed")]
    [(kind, failed)] = await webhooks.published()
    assert (kind, failed["order_id"], failed["reason"]) == (
        "PaymentFailed",
        str(order),
        WEBHOOK_DECLINED,
    )
    assert await webhooks.payment_status(order) == "failed"
    assert await webhooks.provider_operations(order) == [("authorize", "failed")]  # no capture


# -- deliveries that must change nothing ---------------------------------------------------------
async def test_a_replayed_delivery_is_a_duplicate_and_captures_once(
    webhooks: Webhooks, base_url: str
) -> None:
    order = await webhooks.pay("tok_webhook_1")
    owed = await webhooks.owed(order)
    body = json.dumps(owed["payload"]).encode()
    header = webhook_signature.sign(body, secrets=[DEV_WEBHOOK_SECRET], at=datetime.now(UTC))

    first = await post(card_hook(base_url), body, signature=header)
    replayed = await post(card_hook(base_url), body, signature=header)  # captured and resent
    retried = await post(card_hook(base_url), body)  # the provider's retry, signed afresh

    assert [(r.status_code, r.json()["outcome"]) for r in (first, replayed, retried)] == [
        (200, "confirmed"),
        (200, "duplicate"),
        (200, "duplicate"),
    ]
    assert await webhooks.kinds() == ["PaymentCaptured"]
    assert await webhooks.ledger(order) == [("authorize", "succeeded"), ("capture", "succeeded")]
    assert len(await webhooks.deliveries()) == 1


async def test_a_second_delivery_for_an_answered_operation_changes_nothing(
    webhooks: Webhooks, base_url: str
) -> None:
    order = await webhooks.pay("tok_webhook_1")
    owed = await webhooks.owed(order)
    await post(card_hook(base_url), owed["payload"])
    # A confused provider: another delivery id, and the opposite answer.
    contrary = {
        **owed["payload"],
        "id": "evt_second",
        "type": "authorization.failed",
        "data": {**owed["payload"]["data"], "reason": "changed its mind"},
    }

    answer = await post(card_hook(base_url), contrary)

    assert (answer.status_code, answer.json()) == (200, {"outcome": "already_answered"})
    assert await webhooks.kinds() == ["PaymentCaptured"]
    assert await webhooks.payment_status(order) == "captured"
    assert [d[1:] for d in await webhooks.deliveries()] == [
        (owed["delivery_id"], "authorization.succeeded", "confirmed"),
        ("evt_second", "authorization.failed", "already_answered"),
    ]


async def test_a_wrongly_signed_delivery_is_refused_and_changes_nothing(
    webhooks: Webhooks, base_url: str
) -> None:
    order = await webhooks.pay("tok_webhook_1")
    payload = (await webhooks.owed(order))["payload"]
    body = json.dumps(payload).encode()
    declined = json.dumps({**payload, "type": "authorization.failed"}).encode()

    wrong_secret = await post(card_hook(base_url), body, secrets=["not-the-providers-secret"])
    tampered = await post(
        card_hook(base_url),
        declined,
        signature=webhook_signature.sign(body, secrets=[DEV_WEBHOOK_SECRET], at=datetime.now(UTC)),
    )
    unsigned = await post(card_hook(base_url), body, signature="")
    malformed = await post(card_hook(base_url), body, signature="v1=abc")

    mismatch = "Orderly-Signature does not match the body with any configured secret"
    assert (wrong_secret.status_code, wrong_secret.json()) == (401, {"detail": mismatch})
    assert (tampered.status_code, tampered.json()) == (401, {"detail": mismatch})
    assert (unsigned.status_code, unsigned.json()) == (
        400,
        {"detail": "the Orderly-Signature header is missing"},
    )
    assert malformed.status_code == 400
    assert "t=<unix seconds>,v1=<hex HMAC-SHA256>" in malformed.json()["detail"]
    assert DEV_WEBHOOK_SECRET not in wrong_secret.text + tampered.text + malformed.text
    assert await webhooks.ledger(order) == [("authorize", "pending")]
    assert await webhooks.kinds() == []
    assert await webhooks.deliveries() == []


async def test_a_stale_or_future_timestamp_is_refused(webhooks: Webhooks, base_url: str) -> None:
    order = await webhooks.pay("tok_webhook_1")
    payload = (await webhooks.owed(order))["payload"]
    now = datetime.now(UTC)

    stale = await post(card_hook(base_url), payload, at=now - timedelta(seconds=310))
    future = await post(card_hook(base_url), payload, at=now + timedelta(seconds=310))

    assert stale.status_code == 401
    assert "old; at most 300s is accepted" in stale.json()["detail"]
    assert future.status_code == 401
    assert "in the future" in future.json()["detail"]
    assert (await webhooks.ledger(order), await webhooks.kinds()) == (
        [("authorize", "pending")],
        [],
    )

    recent = await post(card_hook(base_url), payload, at=now - timedelta(seconds=280))

    assert (recent.status_code, await webhooks.kinds()) == (200, ["PaymentCaptured"])


@pytest.mark.parametrize(
    "settings",
    [{"webhook_secrets": {"sim-card": "the-new-secret, the-old-secret"}}],
    indirect=True,
)
async def test_either_secret_is_accepted_while_one_is_rotated(
    webhooks: Webhooks, base_url: str
) -> None:
    old_order, new_order, other_order = [await webhooks.pay("tok_webhook_1") for _ in range(3)]

    old = await post(
        card_hook(base_url), (await webhooks.owed(old_order))["payload"], secrets=["the-old-secret"]
    )
    new = await post(
        card_hook(base_url), (await webhooks.owed(new_order))["payload"], secrets=["the-new-secret"]
    )
    not_configured = await post(  # the development secret: not this provider's any more
        card_hook(base_url), (await webhooks.owed(other_order))["payload"]
    )

    assert (old.status_code, new.status_code, not_configured.status_code) == (200, 200, 401)
    assert await webhooks.kinds() == ["PaymentCaptured"] * 2
    assert await webhooks.ledger(other_order) == [("authorize", "pending")]


async def test_unknown_providers_operations_and_unreadable_bodies_are_named(
    webhooks: Webhooks, base_url: str
) -> None:
    order = await webhooks.pay("tok_webhook_1")
    payload = (await webhooks.owed(order))["payload"]
    unknown_reference = {**payload, "data": {**payload["data"], "reference": "simcard_au_nope"}}

    unknown_provider = await post(f"{base_url}/providers/acme-pay/webhooks", payload)
    other_provider = await post(f"{base_url}/providers/sim-wallet/webhooks", payload)
    unknown_operation = await post(card_hook(base_url), unknown_reference)
    unreadable = await post(card_hook(base_url), {**payload, "type": "charge.refunded"})
    not_json = await post(card_hook(base_url), b"not json")

    assert (unknown_provider.status_code, unknown_provider.json()) == (
        404,
        {"detail": "no payment provider 'acme-pay' is configured"},  # not which ones are
    )
    # A reference of sim-card is no operation of sim-wallet's.
    assert other_provider.status_code == 404
    assert other_provider.json()["detail"].startswith(
        f"no authorize {payload['data']['reference']!r} of provider 'sim-wallet' in the ledger"
    )
    assert (unknown_operation.status_code, unknown_operation.json()) == (
        404,
        {
            "detail": "no authorize 'simcard_au_nope' of provider 'sim-card' in the ledger;"
            " if it was requested just now, send the webhook again shortly"
        },
    )
    assert unreadable.status_code == 422
    assert [e["loc"] for e in unreadable.json()["detail"]] == [["body", "type"]]
    assert not_json.status_code == 422
    assert (await webhooks.kinds(), await webhooks.deliveries()) == ([], [])
    # None of them was remembered: the real delivery still applies.
    assert (await post(card_hook(base_url), payload)).json() == {"outcome": "confirmed"}


class CaptureUnansweredOnce(SimulatedProvider):
    """The simulated card provider, whose first capture gets no answer (and does nothing)."""

    def __init__(self, database: Database, clock: ManualClock) -> None:
        super().__init__(database, name="sim-card", webhook_delay=REVIEW, clock=clock)
        self.silent = 1

    async def capture(
        self, *, idempotency_key: str, order_id: UUID, authorization_reference: str, amount: Money
    ) -> ProviderResult:
        if self.silent:
            self.silent -= 1
            raise ProviderTimeoutError(f"capture {idempotency_key}: no answer from sim-card")
        return await super().capture(
            idempotency_key=idempotency_key,
            order_id=order_id,
            authorization_reference=authorization_reference,
            amount=amount,
        )


async def test_an_answer_that_cannot_be_acted_on_yet_is_not_remembered_so_the_retry_applies(
    settings: PaymentSettings, clock: ManualClock
) -> None:
    database = Database(settings.database_url, pool_size=5)
    providers = Providers({"credit_card": CaptureUnansweredOnce(database, clock)})
    try:
        async with running(settings, clock, providers=providers) as webhooks:
            order = await webhooks.pay("tok_webhook_1")
            payload = (await webhooks.owed(order))["payload"]
            async with serve_http(webhooks.service.http) as base:
                unanswered = await post(card_hook(base), payload)
                ledger, kinds, remembered = (
                    await webhooks.ledger(order),
                    await webhooks.kinds(),
                    await webhooks.deliveries(),
                )
                retried = await post(card_hook(base), payload)

            assert unanswered.status_code == 503
            assert unanswered.json()["detail"] == (
                f"the answer could not be acted on yet (capture capture:{order}: no answer from"
                " sim-card); send the webhook again later"
            )
            # Only the capture's write-ahead entry outlives the refusal: its key is retried.
            assert (ledger, kinds, remembered) == (
                [("authorize", "pending"), ("capture", "requested")],
                [],
                [],
            )
            assert (retried.status_code, retried.json()) == (200, {"outcome": "confirmed"})
            assert await webhooks.ledger(order) == [
                ("authorize", "succeeded"),
                ("capture", "succeeded"),
            ]
            assert await webhooks.kinds() == ["PaymentCaptured"]
    finally:
        await database.dispose()


# -- the simulated providers' sender ------------------------------------------------------------
async def test_the_sender_job_delivers_each_owed_webhook_to_the_service_once(
    fresh_database: str, clock: ManualClock
) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    port = free_port()
    settings = settings_for(fresh_database, http_port=port)  # the job's default URL: ourselves
    async with running(settings, clock) as webhooks:
        jobs = webhooks.service.jobs
        [send_webhooks] = [job for name, _, job in jobs if name == "sim-provider-webhooks"]
        approved = [await webhooks.pay("tok_webhook_1"), await webhooks.pay("tok_webhook_2")]
        declined = await webhooks.pay("tok_webhook_decline_wallet", method="mobile_wallet")

        async with serve_http(webhooks.service.http, port=port):
            await send_webhooks()
            owed_before_due = await webhooks.webhook_rows()
            clock.advance(REVIEW)
            await send_webhooks()
            await send_webhooks()  # nothing is sent twice

        assert [(r["sent_at"], r["attempts"]) for r in owed_before_due] == [(None, 0)] * 3

        published = await webhooks.published()
        assert sorted((kind, body["order_id"]) for kind, body in published) == sorted(
            [("PaymentCaptured", str(order)) for order in approved]
            + [("PaymentFailed", str(declined))]
        )
        rows = await webhooks.webhook_rows()
        assert [(r["provider"], r["attempts"], r["last_error"]) for r in rows] == [
            ("sim-card", 1, None),
            ("sim-card", 1, None),
            ("sim-wallet", 1, None),
        ]
        assert sorted((d[0], d[3]) for d in await webhooks.deliveries()) == [
            ("sim-card", "confirmed"),
            ("sim-card", "confirmed"),
            ("sim-wallet", "confirmed"),
        ]


async def test_a_webhook_not_accepted_is_retried_with_backoff_until_it_is(
    webhooks: Webhooks, base_url: str
) -> None:
    order = await webhooks.pay("tok_webhook_1")
    await webhooks.owed(order)
    provider = webhooks.simulated("sim-card")
    url = card_hook(base_url)

    async def send(secret: str) -> int:
        async with httpx.AsyncClient() as client:
            return await provider.send_due_webhooks(client, url=url, secret=secret)

    refused_at = webhooks.clock()
    refused = await send("a-secret-the-service-does-not-know")
    [row] = await webhooks.webhook_rows()
    webhooks.clock.advance(RETRY_BACKOFF - timedelta(microseconds=1))
    not_yet = await send(DEV_WEBHOOK_SECRET)
    webhooks.clock.advance(timedelta(microseconds=1))
    accepted = await send(DEV_WEBHOOK_SECRET)

    assert (refused, not_yet, accepted) == (1, 0, 1)
    assert (row["sent_at"], row["attempts"], row["due_at"]) == (
        None,
        1,
        refused_at + RETRY_BACKOFF,
    )
    assert row["last_error"] == (
        '401: {"detail":"Orderly-Signature does not match the body with any configured secret"}'
    )
    [sent] = await webhooks.webhook_rows()
    assert (sent["sent_at"] is not None, sent["attempts"], sent["last_error"]) == (True, 2, None)
    assert await webhooks.kinds() == ["PaymentCaptured"]


async def test_senders_running_at_once_send_each_webhook_once(
    webhooks: Webhooks, base_url: str
) -> None:
    orders = [await webhooks.pay(f"tok_webhook_{n}") for n in range(6)]
    for order in orders:
        await webhooks.owed(order)
    provider = webhooks.simulated("sim-card")
    requests: list[str] = []

    async def count(request: httpx.Request) -> None:
        requests.append(json.loads(request.content)["id"])

    async with httpx.AsyncClient(event_hooks={"request": [count]}) as client:
        taken = await asyncio.gather(
            *(
                provider.send_due_webhooks(
                    client, url=card_hook(base_url), secret=DEV_WEBHOOK_SECRET, batch=2
                )
                for _ in range(4)
            )
        )

    owed = [r["delivery_id"] for r in await webhooks.webhook_rows()]
    assert (sum(taken), sorted(requests)) == (6, sorted(owed))
    assert await webhooks.kinds() == ["PaymentCaptured"] * 6
    assert [(r["sent_at"] is not None, r["attempts"]) for r in await webhooks.webhook_rows()] == [
        (True, 1)
    ] * 6
