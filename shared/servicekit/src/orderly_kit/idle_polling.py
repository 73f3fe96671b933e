"""A consumer with nothing to do polls the broker less often.

Busy, a service's one consumer asks the broker for records with a short wait
(``KAFKA_FETCH_MAX_WAIT_MS``) and FastStream's batch loop asks aiokafka for a batch every
``CONSUMER_BATCH_TIMEOUT_MS``, sleeping as long again after an empty one. Idle, those
polls were most of the suite's idle CPU, and of the local broker's (Tansu answers a
fetch only when its wait expires, so the local stack keeps the wait short). After
``CONSUMER_IDLE_AFTER_SECONDS`` without a record the consumer switches to the idle
values; its next batch switches it back.

The price: the first record after a quiet spell may wait up to the idle batch timeout
(the loop's sleep after an empty poll) and, on Tansu, up to the idle fetch wait (Apache
Kafka answers a fetch as soon as data arrives). Records that follow are polled at the
busy values.

aiokafka reads its fetch wait from the consumer's fetcher for every request and has no
public setter; FastStream reads ``batch_timeout_ms`` from the subscriber for every poll.
A consumer restarted after a failure gets a new fetcher with the configured (busy) wait:
``check`` sets the idle one again while the quiet spell lasts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Polling:
    """How often a consumer polls: the broker's fetch wait and the batch loop's timeout."""

    fetch_wait_ms: int
    batch_timeout_ms: int


class IdlePolling:
    """Switches one FastStream batch subscriber between busy and idle polling."""

    def __init__(
        self,
        *,
        busy: Polling,
        idle: Polling,
        idle_after_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.busy = busy
        self.idle = idle
        self.idle_after_seconds = idle_after_seconds
        self._clock = clock
        self._last_batch = clock()
        self._subscriber: Any = None
        self.is_idle = False

    def attach(self, subscriber: Any) -> None:
        """The FastStream batch subscriber whose polling this switches."""
        self._subscriber = subscriber

    def batch_arrived(self) -> None:
        """A batch came: poll at the busy values again (called for every batch)."""
        self._last_batch = self._clock()
        if self.is_idle:
            self.is_idle = False
            self._apply(self.busy)
            log.debug("consumer busy: polling every %s ms", self.busy.batch_timeout_ms)

    def check(self) -> None:
        """After ``idle_after_seconds`` without a batch, poll at the idle values (called
        periodically; sets them again on a consumer restarted meanwhile)."""
        if self.idle_after_seconds <= 0:
            return
        if self._clock() - self._last_batch < self.idle_after_seconds:
            return
        if self._apply(self.idle) and not self.is_idle:
            self.is_idle = True
            log.debug("consumer idle: polling every %s ms", self.idle.batch_timeout_ms)

    def current(self) -> Polling | None:
        """The values the running consumer polls with (None before it starts)."""
        fetcher = self._fetcher()
        if fetcher is None:
            return None
        return Polling(fetcher._fetch_max_wait_ms, self._subscriber.batch_timeout_ms)

    def _fetcher(self) -> Any:
        consumer = getattr(self._subscriber, "consumer", None)
        return getattr(consumer, "_fetcher", None)

    def _apply(self, polling: Polling) -> bool:
        fetcher = self._fetcher()
        if fetcher is None:  # not started yet, or stopped
            return False
        fetcher._fetch_max_wait_ms = polling.fetch_wait_ms
        self._subscriber.batch_timeout_ms = polling.batch_timeout_ms
        return True
