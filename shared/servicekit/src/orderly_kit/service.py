"""Assembles a service: one process serving HTTP, consuming Kafka and relaying its outbox.

Start-up order: migrations (the database), then the periodic jobs and the HTTP API
serve at once; the broker connection, the outbox relay and the consumer group
start in the background (``consumers.py``), each retried until it is up. Kafka being
slow to rebalance, or down, never keeps the API closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from sqlalchemy import MetaData, Table

from orderly_kit import (
    audit,
    audit_http,
    deadletters,
    health,
    housekeeping,
    migrations,
    telemetry,
    topics_admin,
)
from orderly_kit.auth import TokenVerifier, document_access
from orderly_kit.clock import Clock, utc_now
from orderly_kit.consumers import (
    ConsumerGroupHealth,
    ConsumerGroups,
    retry_with_backoff,
    start_with_retry,
)
from orderly_kit.db import Database
from orderly_kit.http_errors import document_guards, refuse_invalid
from orderly_kit.http_limits import LimitRequestBodies
from orderly_kit.idle_polling import IdlePolling, Polling
from orderly_kit.input_guard_http import RefuseCardDataAndUnsafeText
from orderly_kit.logging import configure_logging
from orderly_kit.messaging import Messaging
from orderly_kit.outbox import OutboxRelay, OutboxSignal, refresh_unsent
from orderly_kit.personal_data import vault_from
from orderly_kit.request_id_http import RequestId
from orderly_kit.settings import ServiceSettings
from orderly_kit.subscriptions import Subscription
from orderly_kit.webhook_sender import WebhookSender
from orderly_schemas.base import Message

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[Any]]


class ServiceApp(FastAPI):
    """A service's HTTP app, whose OpenAPI document states each route's access."""

    _documented: dict[str, Any] | None = None

    def openapi(self) -> dict[str, Any]:
        schema = super().openapi()
        if schema is not self._documented:
            self._documented = document_guards(document_access(schema, self.routes))
        return schema


def consumer_group(service: str) -> str:
    """The Kafka consumer group of ``service``: one group reads all the topics it consumes."""
    return f"orderly.{service}"


@dataclass
class Service:
    """One service's parts; ``bootstrap.py`` fills in handlers, routes and jobs."""

    settings: ServiceSettings
    title: str
    version: str
    metadata: MetaData
    outbox: Table
    inbox: Table
    migrations_dir: Path
    database: Database
    broker: KafkaBroker
    messaging: Messaging
    http: FastAPI = field(init=False)
    jobs: list[tuple[str, float, Job]] = field(default_factory=list)
    #: The signed-webhook senders this process runs (its simulators): see ``sends_webhooks``.
    webhook_senders: list[WebhookSender] = field(default_factory=list)
    consumer_groups: ConsumerGroups = field(init=False)
    idle_polling: IdlePolling = field(init=False)
    _subscriptions: dict[str, Subscription] = field(default_factory=dict)
    _consumer: Any = None  # FastStream's batch subscriber on every topic, built at start
    _published: list[type[Message]] = field(default_factory=list)
    _forgotten_once_sent: set[str] = field(default_factory=set)
    _groups_whose_offsets_are_read: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _on_stop: list[Job] = field(default_factory=list)
    _relay: OutboxRelay | None = None

    def __post_init__(self) -> None:
        self.http = ServiceApp(title=self.title, version=self.version, lifespan=self._lifespan)
        self.http.state.token_verifier = TokenVerifier.from_settings(self.settings.auth)
        self.http.include_router(health.router(self))
        self.consumer_groups = ConsumerGroups(self.settings.service_name)
        s = self.settings
        self.idle_polling = IdlePolling(
            busy=Polling(s.kafka_fetch_max_wait_ms, s.consumer_batch_timeout_ms),
            idle=Polling(s.kafka_fetch_max_wait_idle_ms, s.consumer_batch_timeout_idle_ms),
            idle_after_seconds=s.consumer_idle_after_seconds,
        )

    # -- wiring -----------------------------------------------------------------
    def subscriber(self, topic: str, *, partitions_concurrently: bool = True) -> Subscription:
        """This service's subscription to ``topic``; add handlers with ``.on(Event)``.

        A poll's partitions are handled concurrently, each in its own transaction. Where
        messages of different partitions lock the same rows (stock shared by many orders),
        concurrent transactions would take those locks in different orders and deadlock:
        ``partitions_concurrently=False`` handles that topic's partitions one after another.
        """
        if topic not in self._subscriptions:
            if self._consumer is not None:
                raise RuntimeError(f"subscribe to {topic} before the service starts consuming")
            self._subscriptions[topic] = Subscription(
                topic,
                group_id=self.group,
                title=f"{self.settings.service_name}:{topic}",
                concurrently=partitions_concurrently,
            )
        return self._subscriptions[topic]

    @property
    def group(self) -> str:
        """This service's consumer group."""
        return consumer_group(self.settings.service_name)

    def consumer(self) -> Any:
        """The one FastStream batch subscriber that reads every topic this service consumes
        (built once, when the subscriptions are complete: at start).

        One consumer per process, not one per topic: each consumer is a fetch loop that
        polls the broker every ``KAFKA_FETCH_MAX_WAIT_MS`` whether or not there is work,
        and on the local broker those polls were most of an idle suite's CPU.
        """
        if self._consumer is None and self._subscriptions:
            s = self.settings
            topics = self.consumed_topics
            health = self.consumer_groups.add(
                ConsumerGroupHealth(
                    service=s.service_name,
                    group=self.group,
                    topics=tuple(topics),
                    workers=1,
                    lag_warning=s.consumer_lag_warning,
                )
            )
            consumer = self.broker.subscriber(
                *topics,
                group_id=self.group,
                auto_offset_reset="earliest",
                session_timeout_ms=s.kafka_session_timeout_ms,
                heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
                fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
                listener=health.listener(),
                # A poll's records are handled per partition, the partitions concurrently,
                # and its offsets committed once; on an error every partition rewinds.
                batch=True,
                max_records=s.consumer_batch_max_records,
                batch_timeout_ms=s.consumer_batch_timeout_ms,
                decoder=_undecoded,
                ack_policy=AckPolicy.NACK_ON_ERROR,
                include_in_schema=False,
                title=f"{s.service_name}:batches",
            )
            messaging = self.messaging
            idle_polling = self.idle_polling
            idle_polling.attach(consumer)
            routes_of = {topic: sub.routes for topic, sub in self._subscriptions.items()}
            one_at_a_time = frozenset(
                topic for topic, sub in self._subscriptions.items() if not sub.concurrently
            )

            @consumer
            async def consume(_: Any, message: Any = Context("message")) -> None:
                idle_polling.batch_arrived()
                await messaging.handle_batch(
                    message.raw_message,
                    message.batch_headers,
                    routes_of,
                    one_at_a_time=one_at_a_time,
                )

            self._consumer = consumer
        return self._consumer

    @property
    def consumed_topics(self) -> list[str]:
        """The topics this service subscribes to."""
        return sorted(self._subscriptions)

    def publishes(self, *classes: type[Message]) -> None:
        """Declare the messages this service publishes (through its outbox) for AsyncAPI."""
        self._published.extend(classes)

    def forgets_once_sent(self, *classes: type[Message]) -> None:
        """Messages of these types carry personal data in plaintext (the contract's way in,
        ``OrderPlaced``): the outbox keeps their payload only until it is sent."""
        self._forgotten_once_sent.update(cls.message_type() for cls in classes)

    @property
    def published_topics(self) -> list[str]:
        """The topics this service publishes to (its outbox's), as declared."""
        return sorted({cls.topic for cls in self._published})

    def reads_offsets_of(self, *groups: str) -> None:
        """Declare the consumer groups whose committed offsets this service reads: with ACLs,
        its Kafka user needs Describe on them."""
        self._groups_whose_offsets_are_read.extend(groups)

    @property
    def groups_whose_offsets_are_read(self) -> list[str]:
        return sorted(set(self._groups_whose_offsets_are_read))

    def every(self, name: str, seconds: float, job: Job) -> None:
        """Run ``job`` every ``seconds`` while the service runs."""
        self.jobs.append((name, seconds, job))

    def sends_webhooks(self, sender: WebhookSender) -> None:
        """Keep ``sender``'s given-up deliveries counted in its gauge while the service runs,
        and within reach of the ``webhooks`` command (list them, retry them)."""
        self.webhook_senders.append(sender)
        self.every(
            f"{sender.name}-webhooks-given-up",
            self.settings.dead_letters_gauge_interval_seconds,
            sender.count_given_up,
        )

    def on_stop(self, close: Job) -> None:
        """Run ``close`` when the service stops, after its jobs (a client a job opened)."""
        self._on_stop.append(close)

    def specification_broker(self) -> KafkaBroker:
        """A broker that never connects, declaring what this service consumes (each message
        type with its handler) and publishes: the source of the AsyncAPI document."""
        s = self.settings
        broker = KafkaBroker(s.kafka_bootstrap_servers)
        for subscription in self._subscriptions.values():
            subscription.document(broker)
        by_topic: dict[str, list[type[Message]]] = {}
        for cls in self._published:
            by_topic.setdefault(cls.topic, []).append(cls)
        for topic, members in by_topic.items():
            schema: Any = members[0]
            for extra in members[1:]:
                schema = schema | extra
            broker.publisher(
                topic,
                title=f"{s.service_name}:{topic}:publish",
                description="Published through the transactional outbox: "
                + ", ".join(m.message_type() for m in members),
                schema=schema,
            )
        return broker

    def asyncapi(self) -> AsyncAPI:
        return AsyncAPI(
            self.specification_broker(),
            title=self.title,
            version=self.version,
            description=f"Messages consumed and published by the {self.title}.",
        )

    def consumers_of(self, group: str) -> list[AIOKafkaConsumer]:
        """The running Kafka consumers of this process in consumer group ``group``."""
        running = self._consumer.consumer if self._consumer is not None else None
        return [running] if running is not None and group == self.group else []

    # -- lifecycle --------------------------------------------------------------
    async def start(self) -> None:
        """Migrate, start the jobs, and start messaging in the background; returns at once."""
        s = self.settings
        self.consumer()  # the subscriptions are complete: one subscriber reads them all
        if s.migrate_on_start:
            await asyncio.to_thread(migrations.upgrade, self.migrations_dir, s.database_url)
        for name, seconds, job in self.jobs:
            self._tasks.append(asyncio.create_task(_periodic(name, seconds, job), name=name))
        self._tasks.append(asyncio.create_task(self._start_messaging(), name="messaging"))
        log.info("%s serving; consumer groups joining in the background", s.service_name)

    async def _start_messaging(self) -> None:
        """Connect (retrying), start the relay, then the consumer group."""
        s = self.settings

        async def connect() -> None:
            if s.create_topics:
                await topics_admin.ensure_topics(
                    s.kafka_bootstrap_servers,
                    partitions=s.topic_partitions,
                    security=s.kafka_security(),
                )
            await self.broker.connect()

        async def unreachable(exc: Exception, delay: float) -> None:
            for group in self.consumer_groups.groups.values():
                group.failed(exc)
            log.warning("broker not reachable, retrying in %.0fs: %s", delay, exc)

        await retry_with_backoff(connect, unreachable)
        self._relay = OutboxRelay(
            database=self.database,
            outbox=self.outbox,
            broker=self.broker,
            signal=self.messaging.signal,
            service=s.service_name,
            batch_size=s.outbox_batch_size,
            poll_interval=s.outbox_poll_interval_ms / 1000,
            forgotten_once_sent=self._forgotten_once_sent,
        )
        self._tasks.append(asyncio.create_task(self._relay.run(), name="outbox-relay"))
        consumer = self.consumer()
        if consumer is not None:
            await start_with_retry(
                self.consumer_groups.groups[self.group], consumer.start, consumer.stop
            )
        self.broker.running = True
        log.info("%s: consumer group %s assigned", s.service_name, self.group)

    async def stop(self) -> None:
        if self._relay:
            self._relay.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for close in self._on_stop:
            try:
                await close()
            except Exception:
                log.exception("closing %s failed", getattr(close, "__qualname__", close))
        # Stopping the consumers sends LeaveGroup, so the group rebalances at once on Kafka.
        try:
            await self.broker.stop()
        except Exception:
            log.exception("stopping the broker connection failed")
        for group in self.consumer_groups.groups.values():
            group.stopped()
        await self.database.dispose()
        log.info("%s stopped", self.settings.service_name)

    @asynccontextmanager
    async def _lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()


async def _undecoded(message: Any) -> None:
    """No decoding for FastStream: the kit decodes each record with its route's model."""
    del message


async def _periodic(name: str, seconds: float, job: Job) -> None:
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic job %s failed", name)
        await asyncio.sleep(seconds)


def build_service(
    settings: ServiceSettings,
    *,
    title: str,
    version: str,
    metadata: MetaData,
    outbox: Table,
    inbox: Table,
    migrations_dir: Path,
    card_data_topics: Iterable[str] = (),
    customer_keys: Table | None = None,
    clock: Clock = utc_now,
) -> Service:
    """Build (but do not connect) a service from its settings.

    A message on one of ``card_data_topics`` that carries anything looking like a card
    number is dead-lettered at once, with the numbers removed. A service that keeps
    customers' personal data passes its ``customer_keys`` table: its units of work then
    seal and open that data with the vault the settings describe (``uow.vault``).

    Every HTTP request passes the kit's guards, outermost first: a body over its limit or
    too slow is refused (413, 408), then text no store can keep and card numbers anywhere
    in the request (422 naming where); every 422 is answered in one shape
    (``http_errors``).
    """
    configure_logging(
        settings.service_name, level=settings.log_level, json_format=settings.log_json
    )
    provider = telemetry.tracer_provider(settings.service_name, settings.otlp_endpoint)
    telemetry.install_tracer_provider(provider)
    database = Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        ping_when_idle_seconds=settings.database_ping_when_idle_seconds,
    )
    messaging = Messaging(
        database=database,
        outbox=outbox,
        inbox=inbox,
        service=settings.service_name,
        signal=OutboxSignal(),
        max_attempts=settings.consumer_max_attempts,
        backoff_ms=settings.consumer_retry_backoff_ms,
        backoff_max_ms=settings.consumer_retry_backoff_max_ms,
        card_data_topics=frozenset(card_data_topics),
        clock=clock,
        vault=None if customer_keys is None else vault_from(settings, customer_keys),
    )
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        # SASL/SCRAM over TLS in production: this service's own Kafka user (ACLs).
        security=settings.kafka_security().faststream_security(),
        client_id=settings.service_name,
        # Effectively-once comes from the outbox and inbox, never from Kafka idempotence.
        enable_idempotence=False,
        acks="all",
        linger_ms=2,
        middlewares=telemetry.broker_middlewares(settings.service_name, provider),
        logger=logging.getLogger(f"faststream.{settings.service_name}"),
        # FastStream's "Received" / "Processed" per poll: DEBUG, so off at the default
        # level (metrics count every message; a busy service would write a line per poll).
        log_level=logging.DEBUG,
    )
    service = Service(
        settings=settings,
        title=title,
        version=version,
        metadata=metadata,
        outbox=outbox,
        inbox=inbox,
        migrations_dir=migrations_dir,
        database=database,
        broker=broker,
        messaging=messaging,
    )
    # Each middleware added wraps those added before it.
    service.http.add_middleware(RefuseCardDataAndUnsafeText)
    # Added after the input guard, so it wraps it: it reads no more than the limit.
    service.http.add_middleware(
        LimitRequestBodies,
        router=service.http.router,
        max_body_bytes=settings.http_max_body_bytes,
        body_timeout_seconds=settings.http_body_timeout_seconds,
    )
    # Added last, so outermost: every answer carries the id, the guards' refusals too.
    service.http.add_middleware(RequestId)
    service.http.add_exception_handler(RequestValidationError, refuse_invalid)
    service.http.include_router(audit_http.router(service))
    _add_upkeep_jobs(service)
    return service


def _add_upkeep_jobs(service: Service) -> None:
    """The jobs every service runs: count dead letters waiting and unsent outbox rows,
    purge outbox and inbox, measure consumer lag, poll the broker less while idle, log
    the audit log's head when it moved."""
    s = service.settings
    gauge = deadletters.WaitingGauge(s.service_name)
    audit_head = audit.HeadLogger(s.service_name)

    # Both read service.database when they run, so a test may swap it after building.
    async def count_dead_letters_waiting() -> None:
        await gauge.refresh(service.database, service.inbox, service.consumed_topics)

    async def purge_outbox_and_inbox() -> None:
        await housekeeping.housekeep(
            service.database,
            outbox=service.outbox,
            inbox=service.inbox,
            service=s.service_name,
            outbox_retention=timedelta(seconds=s.outbox_retention_seconds),
            inbox_retention=timedelta(seconds=s.inbox_retention_seconds),
            batch_size=s.housekeeping_batch_size,
        )

    async def refresh_consumer_lag() -> None:
        await service.consumer_groups.refresh_lag(service.consumers_of)

    async def count_outbox_unsent() -> None:
        await refresh_unsent(service.database, service.outbox, s.service_name)

    async def log_audit_head() -> None:
        await audit_head.log_head(service.database, service.messaging.audit_log)

    service.every("consumer-lag", s.consumer_lag_interval_seconds, refresh_consumer_lag)
    service.every(
        "dead-letters-waiting", s.dead_letters_gauge_interval_seconds, count_dead_letters_waiting
    )
    service.every("outbox-unsent", s.outbox_unsent_gauge_interval_seconds, count_outbox_unsent)
    service.every("housekeeping", s.housekeeping_interval_seconds, purge_outbox_and_inbox)
    service.every("audit-head", s.audit_head_log_interval_seconds, log_audit_head)
    if s.consumer_idle_after_seconds > 0:

        async def poll_less_when_idle() -> None:
            service.idle_polling.check()

        service.every("idle-polling", 1.0, poll_less_when_idle)
