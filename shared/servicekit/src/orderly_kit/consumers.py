"""Consumer groups that join in the background, and what each of them is doing.

The HTTP API needs only the database (the outbox decouples it from Kafka), so a
service serves as soon as it has migrated while its consumer joins its group (one
group per service, ``orderly.<service>``, reading all the topics the service
consumes). On the Tansu broker a group that a restarted process rejoins takes one to
two session timeouts to settle (a member that left or died stays leader until its
session expires), so the group joins in the background, retried with backoff on
failure, and keeps its state for ``/health/consumers`` and the
``orderly_consumer_group_*`` metrics:

- ``joining``: started, waiting for its first assignment;
- ``assigned``: every worker of the group has its partitions (possibly none, when
  other processes of the group hold them all);
- ``rebalancing``: partitions were revoked and not all given back yet;
- ``failing``: could not start (broker unreachable, unknown topic); retried;
- ``stopped``: the service is shutting down.

Lag is the messages behind the highwater mark over the partitions this process
holds, refreshed by a job; a group is ``lagging`` when that exceeds a setting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from prometheus_client import Gauge

log = logging.getLogger(__name__)


class GroupState(StrEnum):
    JOINING = "joining"
    ASSIGNED = "assigned"
    REBALANCING = "rebalancing"
    FAILING = "failing"
    STOPPED = "stopped"


GROUP_STATE = Gauge(
    "orderly_consumer_group_state",
    "1 for the state each consumer group of this process is in, 0 for the others",
    ["service", "group", "state"],
)
GROUP_ASSIGNED = Gauge(
    "orderly_consumer_group_assigned",
    "1 when every consumer of the group in this process has its assignment",
    ["service", "group"],
)
GROUP_LAG = Gauge(
    "orderly_consumer_group_lag",
    "Messages behind the highwater mark on the partitions this process holds",
    ["service", "group"],
)
GROUP_PARTITIONS = Gauge(
    "orderly_consumer_group_partitions",
    "Partitions of the group's topics held by this process",
    ["service", "group"],
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConsumerGroupHealth:
    """One consumer group of one process: its state, partitions, lag and last error."""

    service: str
    group: str
    topics: tuple[str, ...]
    workers: int
    lag_warning: int = 1000
    state: GroupState = GroupState.JOINING
    since: datetime = field(default_factory=_utcnow)
    started_at: float = field(default_factory=time.monotonic)
    assigned_after_seconds: float | None = None
    partitions: set[TopicPartition] = field(default_factory=set)
    lag: int | None = None
    error: str | None = None
    start_attempts: int = 0
    _revoked_pending: int = 0
    _started: bool = False

    def __post_init__(self) -> None:
        self._publish_state()

    # Transitions, called by the start loop and the rebalance listener.
    def starting(self) -> None:
        self.start_attempts += 1
        if self.state is not GroupState.FAILING:
            self._enter(GroupState.JOINING)

    def started(self) -> None:
        """Every worker's ``start()`` returned: aiokafka waits for the first assignment."""
        self._started = True
        self.error = None
        self._settle()

    def failed(self, exc: BaseException) -> None:
        self._started = False
        self._revoked_pending = 0
        self.partitions.clear()
        # Only the type and the broker's words: no message body ever reaches here.
        self.error = f"{type(exc).__name__}: {exc}"[:500]
        self._enter(GroupState.FAILING)

    def stopped(self) -> None:
        self._started = False
        self.partitions.clear()
        self._enter(GroupState.STOPPED)

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        self._revoked_pending += 1
        self.partitions.difference_update(partitions)
        if self._started:
            self._enter(GroupState.REBALANCING)

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        self._revoked_pending = max(0, self._revoked_pending - 1)
        self.partitions.update(partitions)
        self._settle()

    def _settle(self) -> None:
        if not self._started or self._revoked_pending:
            self._publish_state()  # the partitions changed, the state not yet
            return
        if self.assigned_after_seconds is None:
            self.assigned_after_seconds = time.monotonic() - self.started_at
        self._enter(GroupState.ASSIGNED)

    def _enter(self, state: GroupState) -> None:
        if state is not self.state:
            log.info("consumer group %s: %s -> %s", self.group, self.state.value, state.value)
            self.state = state
            self.since = _utcnow()
        self._publish_state()

    def _publish_state(self) -> None:
        for s in GroupState:
            GROUP_STATE.labels(self.service, self.group, s.value).set(int(s is self.state))
        GROUP_ASSIGNED.labels(self.service, self.group).set(int(self.state is GroupState.ASSIGNED))
        GROUP_PARTITIONS.labels(self.service, self.group).set(len(self.partitions))

    @property
    def lagging(self) -> bool:
        return self.lag is not None and self.lag > self.lag_warning

    def listener(self) -> ConsumerRebalanceListener:
        """A rebalance listener that keeps this record up to date (shared by the workers)."""
        return _Listener(self)

    def describe(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "topics": list(self.topics),
            "state": self.state.value,
            "since": self.since.isoformat(),
            "seconds_in_state": round((_utcnow() - self.since).total_seconds(), 1),
            "assigned_after_seconds": (
                None
                if self.assigned_after_seconds is None
                else round(self.assigned_after_seconds, 1)
            ),
            "workers": self.workers,
            "partitions": {
                topic: sorted(tp.partition for tp in self.partitions if tp.topic == topic)
                for topic in self.topics
            },
            "lag": self.lag,
            "lagging": self.lagging,
            "start_attempts": self.start_attempts,
            "error": self.error,
        }


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, health: ConsumerGroupHealth) -> None:
        self.health = health

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.health.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.health.assigned(assigned)


@dataclass
class ConsumerGroups:
    """Every consumer group of one service process (the kit runs one), by name."""

    service: str
    groups: dict[str, ConsumerGroupHealth] = field(default_factory=dict)

    def add(self, health: ConsumerGroupHealth) -> ConsumerGroupHealth:
        self.groups[health.group] = health
        return health

    @property
    def all_assigned(self) -> bool:
        return all(g.state is GroupState.ASSIGNED for g in self.groups.values())

    def not_assigned(self) -> list[ConsumerGroupHealth]:
        return [g for g in self.groups.values() if g.state is not GroupState.ASSIGNED]

    def describe(self) -> dict[str, Any]:
        waiting = self.not_assigned()
        return {
            "status": "ok" if not waiting else "waiting",
            "waiting": [f"{g.group} ({g.state.value})" for g in waiting],
            "groups": [g.describe() for g in self.groups.values()],
        }

    async def wait_all_assigned(self, within: float) -> None:
        """Return once every group is assigned; else raise naming the ones that are not."""
        deadline = time.monotonic() + within
        while not self.all_assigned:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"consumer groups not assigned after {within}s: "
                    + ", ".join(
                        f"{g.group} {g.state.value}" + (f" ({g.error})" if g.error else "")
                        for g in self.not_assigned()
                    )
                )
            await asyncio.sleep(0.05)

    async def refresh_lag(self, consumers_of: Callable[[str], list[AIOKafkaConsumer]]) -> None:
        """Recompute each assigned group's lag from its consumers' positions and highwaters."""
        for group, health in self.groups.items():
            if health.state is not GroupState.ASSIGNED:
                continue
            lag = 0
            for consumer in consumers_of(group):
                for tp in consumer.assignment():
                    highwater = consumer.highwater(tp)
                    if highwater is None:
                        continue
                    try:
                        position = await asyncio.wait_for(consumer.position(tp), 1.0)
                    except Exception as exc:
                        # A rebalance took the partition away meanwhile: the next round counts it.
                        log.debug("no position for %s: %s", tp, exc)
                    else:
                        lag += max(0, highwater - position)
            health.lag = lag
            GROUP_LAG.labels(self.service, health.group).set(lag)


async def retry_with_backoff(
    attempt: Callable[[], Awaitable[None]],
    on_failure: Callable[[Exception, float], Awaitable[None]],
    *,
    backoff: float = 1.0,
    backoff_max: float = 30.0,
) -> None:
    """Run ``attempt`` until it succeeds; after each failure, ``on_failure(exc, delay)``,
    then wait ``delay`` (doubling from ``backoff`` up to ``backoff_max``)."""
    delay = backoff
    while True:
        try:
            await attempt()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await on_failure(exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, backoff_max)
        else:
            return


async def start_with_retry(
    health: ConsumerGroupHealth,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
) -> None:
    """Start one subscriber, retrying with backoff until it has joined its group."""

    async def attempt() -> None:
        health.starting()
        await start()
        health.started()

    async def on_failure(exc: Exception, delay: float) -> None:
        health.failed(exc)
        log.warning(
            "consumer group %s could not start (attempt %d), retrying in %.0fs: %s",
            health.group,
            health.start_attempts,
            delay,
            health.error,
        )
        try:
            await stop()
        except Exception:
            # A half-started consumer: nothing in it to keep.
            log.debug("stopping the failed consumer of %s failed", health.group)

    await retry_with_backoff(attempt, on_failure)
