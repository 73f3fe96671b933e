"""The order service's periodic jobs: saga and return deadlines, the sagas-per-state gauges."""

from __future__ import annotations

from prometheus_client import Gauge

from orderly_kit.service import Service, consumer_group
from orderly_order import queries, use_cases
from orderly_order.adapters.command_queue import COMMANDS, CommandQueue
from orderly_order.domain.order import AWAITING, Status
from orderly_order.settings import OrderSettings

SAGAS = Gauge(
    "orderly_sagas",
    "Orders in each state that still waits for something (or needs attention)",
    ["status"],
)
OLDEST = Gauge(
    "orderly_saga_oldest_age_seconds",
    "How long the oldest order in each waiting state has been in it",
    ["status"],
)

#: The states the gauges report: every waiting state and needs_attention, always all of them.
WATCHED = (*AWAITING, Status.NEEDS_ATTENTION)


def register(service: Service) -> None:
    settings = service.settings
    assert isinstance(settings, OrderSettings)
    timeouts = settings.timeouts()
    policy = settings.return_policy()
    queue = CommandQueue(
        settings.kafka_bootstrap_servers,
        service=settings.service_name,
        security=settings.kafka_security(),
    )
    service.on_stop(queue.close)
    service.reads_offsets_of(*(consumer_group(handler) for handler, _ in COMMANDS.values()))

    async def process_deadlines() -> None:
        acted_on = 1
        while acted_on > 0:
            async with service.messaging.unit_of_work() as uow:
                acted_on = await use_cases.orders.process_due_deadlines(
                    uow, timeouts=timeouts, queue=queue
                )

    async def process_return_deadlines() -> None:
        acted_on = 1
        while acted_on > 0:
            async with service.messaging.unit_of_work() as uow:
                acted_on = await use_cases.returns.process_due_returns(
                    uow, policy=policy, queue=queue
                )

    async def measure_sagas() -> None:
        async with service.database.sessions() as session:
            states = {s.status: s for s in await queries.sagas.saga_states(session, WATCHED)}
        now = service.messaging.clock()
        for status in WATCHED:
            found = states.get(status.value)
            SAGAS.labels(status.value).set(found.count if found else 0)
            age = (now - found.oldest_since).total_seconds() if found else 0.0
            OLDEST.labels(status.value).set(max(age, 0.0))

    service.every("saga-deadlines", settings.deadline_poll_seconds, process_deadlines)
    service.every("return-deadlines", settings.deadline_poll_seconds, process_return_deadlines)
    service.every("saga-gauges", settings.saga_metrics_poll_seconds, measure_sagas)
