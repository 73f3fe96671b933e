"""The support service's periodic jobs: the agreements cases missed, the cases-per-status
gauge.

The breach job claims cases whose earliest pending agreement is due with SKIP LOCKED, a
batch per transaction, so replicas share them; each agreement of a case is marked and
announced once, and counted once its transaction has committed.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from orderly_kit.service import Service
from orderly_support import queries, use_cases
from orderly_support.domain.cases import CaseStatus
from orderly_support.settings import SupportSettings

SLA_BREACHES = Counter(
    "orderly_support_sla_breaches_total",
    "Agreements cases missed (first response, resolution), by agreement and category",
    ["sla", "category"],
)
OPEN_CASES = Gauge("orderly_support_open_cases", "Cases in each status but closed", ["status"])

#: The statuses the gauge reports, always all of them.
WATCHED = tuple(s for s in CaseStatus if s is not CaseStatus.CLOSED)


def register(service: Service) -> None:
    settings = service.settings
    assert isinstance(settings, SupportSettings)

    async def mark_sla_breaches() -> None:
        claimed = 1
        while claimed > 0:
            async with service.messaging.unit_of_work() as uow:
                claimed, missed = await use_cases.cases.mark_sla_breaches(uow)
            for breach in missed:
                SLA_BREACHES.labels(breach.sla.value, breach.category).inc()

    async def count_cases() -> None:
        async with service.database.sessions() as session:
            counts = await queries.cases.count_not_closed(session)
        for status in WATCHED:
            OPEN_CASES.labels(status.value).set(counts.get(status.value, 0))

    service.every("sla-breaches", settings.sla_poll_seconds, mark_sla_breaches)
    service.every("case-gauge", settings.case_metrics_poll_seconds, count_cases)
