"""After-sales cases, their status machine and their service-level agreements (no I/O).

A case is opened by a customer about something of their own (an order, a return, a claim,
or nothing in particular) or by support for any customer, with a category, a subject and a
first message. The case decides on statuses and times only: its words (the subject, the
messages, the notes, the reasons of its moves) are the customer's personal data, which the
repository keeps sealed beside it (``adapters/personal_data.py``). Its statuses::

    new → open → waiting_on_customer → resolved → closed
          open → resolved;  waiting_on_customer → open (the customer replied)
          resolved → open (the customer replied);  any → closed (support)

Every move is one of ``TRANSITIONS``, recorded in the case's history (from, to, who, why)
and announced (CaseStatusChanged; CaseClosed too when it closes); any other is refused with
``CaseStateError``, naming both statuses. Moving to the status a case is in changes nothing.
Support moves a case explicitly; two moves follow from messages: support's first message
to the customer answers a new case (new → open), and a customer's reply to a case waiting
on them or resolved opens it again.

Two agreements hold for every case, due from its opening by its category (``SlaPolicy``):
the first response (support's first message to the customer) and the resolution. They are
plain times, not business hours: a case opened on Friday evening with 24 hours to its first
response is due on Saturday evening. The resolution clock runs only while support has the
case (new, open): waiting on the customer, or resolved until they confirm, it pauses, and
when the case is with support again its due time moves on by the pause. An agreement
missed is marked once, when ``breaches`` finds it (the job asks at ``sla_due_at``, the
earliest agreement still pending), and announced as CaseSlaBreached; a breach stays marked
whatever happens after.

The customer may rate a resolved or closed case once (1 to 5): rating a resolved case
closes it; CaseClosed carries the score (sent again when a closed case is rated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final, TypedDict, get_args
from uuid import UUID

from orderly_schemas.base import Message
from orderly_schemas.support import (
    CaseCategory,
    CaseClosed,
    CaseOpened,
    CaseSlaBreached,
    CaseStatusChanged,
)
from orderly_support.domain.orders import KnownOrder
from orderly_support.domain.refusals import ConflictError

CATEGORIES: Final[tuple[str, ...]] = get_args(CaseCategory)
#: The longest subject of a case, and the longest message or internal note.
MAX_SUBJECT: Final = 200
MAX_MESSAGE: Final = 5000


class CaseStatus(StrEnum):
    """Where a case stands."""

    NEW = "new"  # nobody in support has answered yet
    OPEN = "open"  # support works on it
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"  # support considers it solved; the customer may still reply
    CLOSED = "closed"


_S = CaseStatus
#: Every move a case may make.
TRANSITIONS: Final[Mapping[CaseStatus, frozenset[CaseStatus]]] = MappingProxyType(
    {
        _S.NEW: frozenset({_S.OPEN, _S.CLOSED}),
        _S.OPEN: frozenset({_S.WAITING_ON_CUSTOMER, _S.RESOLVED, _S.CLOSED}),
        _S.WAITING_ON_CUSTOMER: frozenset({_S.OPEN, _S.RESOLVED, _S.CLOSED}),
        _S.RESOLVED: frozenset({_S.OPEN, _S.CLOSED}),
        _S.CLOSED: frozenset(),
    }
)
#: While support has the case, its resolution clock runs; in any other status it pauses.
CLOCK_RUNS: Final = frozenset({_S.NEW, _S.OPEN})
#: The statuses in which the first response is still awaited, if none was given.
ANSWER_AWAITED: Final = frozenset({_S.NEW, _S.OPEN, _S.WAITING_ON_CUSTOMER})
#: The statuses a customer's reply moves back to open.
REOPENED_BY_REPLY: Final = frozenset({_S.WAITING_ON_CUSTOMER, _S.RESOLVED})
#: The statuses in which the customer may rate the case.
RATEABLE: Final = frozenset({_S.RESOLVED, _S.CLOSED})


class Party(StrEnum):
    """Who writes or acts on a case: its customer, or support (an admin acts as support)."""

    CUSTOMER = "customer"
    SUPPORT = "support"


class Sla(StrEnum):
    """The agreements every case is held to."""

    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class CaseStateError(ConflictError):
    """A move the case's status does not allow: ``from_status`` → ``to_status``."""

    def __init__(self, case_number: str, from_status: CaseStatus, to_status: CaseStatus) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[from_status])) or "none: it is final"
        super().__init__(
            f"case {case_number} cannot move from {from_status.value} to {to_status.value}"
            f" (from {from_status.value}: {allowed})"
        )
        self.from_status = from_status
        self.to_status = to_status


class CaseClosedError(ConflictError):
    """A message or a change to a closed case."""


class CaseRatingError(ConflictError):
    """A rating of a case not yet resolved, or one rated already."""


@dataclass(frozen=True)
class SlaPolicy:
    """How long after its opening a case's first response and resolution are due, by
    category: ``first_response`` and ``resolution`` unless the category has its own."""

    first_response: timedelta = timedelta(hours=24)
    resolution: timedelta = timedelta(hours=72)
    first_response_by_category: Mapping[str, timedelta] = field(
        default_factory=lambda: MappingProxyType(
            {"payment": timedelta(hours=4), "damaged": timedelta(hours=4)}
        )
    )
    resolution_by_category: Mapping[str, timedelta] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def first_response_for(self, category: str) -> timedelta:
        return self.first_response_by_category.get(category, self.first_response)

    def resolution_for(self, category: str) -> timedelta:
        return self.resolution_by_category.get(category, self.resolution)


@dataclass
class StatusChange:
    """One step of a case's history: the status it moved to from which, who moved it, why."""

    from_status: CaseStatus | None
    to_status: CaseStatus
    by: str
    at: datetime
    reason: str | None


@dataclass
class Case:
    case_id: UUID
    case_number: str
    category: CaseCategory
    customer_id: str
    order_id: UUID | None
    order_number: str | None
    return_id: UUID | None
    claim_id: UUID | None
    #: Who opened it (a subject) and on which side.
    opened_by: str
    opened_by_party: Party
    opened_at: datetime
    status: CaseStatus
    updated_at: datetime
    first_response_due_at: datetime
    resolution_due_at: datetime
    assignee: str | None = None
    first_responded_at: datetime | None = None
    first_response_breached_at: datetime | None = None
    #: Since when the resolution clock stands still (None while it runs), and how long it
    #: has stood still before (``resolution_due_at`` already counts that).
    resolution_paused_since: datetime | None = None
    resolution_paused: timedelta = timedelta(0)
    resolved_at: datetime | None = None
    resolution_breached_at: datetime | None = None
    closed_at: datetime | None = None
    satisfaction: int | None = None
    rated_at: datetime | None = None
    #: The earliest agreement still pending: when the breach job looks at the case next.
    sla_due_at: datetime | None = None
    #: Status changes since it was loaded (the adapter appends them to its history).
    changes: list[StatusChange] = field(default_factory=list)
    #: Messages its decisions caused since it was loaded.
    messages: list[Message] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        *,
        case_id: UUID,
        case_number: str,
        category: CaseCategory,
        customer_id: str,
        order: KnownOrder | None,
        return_id: UUID | None,
        claim_id: UUID | None,
        by: str,
        party: Party,
        policy: SlaPolicy,
        now: datetime,
    ) -> Case:
        """A new case, its agreements due from ``now``; the caller has checked that the
        order, if any, is the customer's."""
        case = cls(
            case_id=case_id,
            case_number=case_number,
            category=category,
            customer_id=customer_id,
            order_id=order.order_id if order else None,
            order_number=order.order_number if order else None,
            return_id=return_id,
            claim_id=claim_id,
            opened_by=by,
            opened_by_party=party,
            opened_at=now,
            status=CaseStatus.NEW,
            updated_at=now,
            first_response_due_at=now + policy.first_response_for(category),
            resolution_due_at=now + policy.resolution_for(category),
        )
        case.changes.append(StatusChange(None, CaseStatus.NEW, by, now, None))
        case._refresh_sla_due()
        case.messages.append(
            CaseOpened(
                **case._announced(now),
                opened_by=party.value,
                first_response_due_at=case.first_response_due_at,
                resolution_due_at=case.resolution_due_at,
            )
        )
        return case

    @property
    def closed(self) -> bool:
        return self.status is CaseStatus.CLOSED

    def move(self, to: CaseStatus, *, by: str, now: datetime, reason: str | None = None) -> bool:
        """Support moves the case to ``to``; False if it is there already. CaseStateError
        for a move that is not one of ``TRANSITIONS``."""
        if to is self.status:
            return False
        if to not in TRANSITIONS[self.status]:
            raise CaseStateError(self.case_number, self.status, to)
        self._move(to, by=by, now=now, reason=reason)
        return True

    def customer_wrote(self, *, by: str, now: datetime) -> None:
        """The customer wrote to support: a case waiting on them, or resolved, opens again."""
        self._check_not_closed("a message")
        self.updated_at = now
        if self.status in REOPENED_BY_REPLY:
            self._move(CaseStatus.OPEN, by=by, now=now, reason="the customer replied")

    def support_wrote(self, *, by: str, now: datetime) -> None:
        """Support wrote to the customer: the first time, that is the first response, and a
        new case is open."""
        self._check_not_closed("a message")
        self.updated_at = now
        if self.first_responded_at is None:
            self.first_responded_at = now
            self._refresh_sla_due()
        if self.status is CaseStatus.NEW:
            self._move(CaseStatus.OPEN, by=by, now=now, reason="first response")

    def assign(self, assignee: str | None, *, now: datetime) -> bool:
        """Give the case to a support agent (None: to nobody); False if it is theirs already."""
        self._check_not_closed("an assignment")
        if assignee == self.assignee:
            return False
        self.assignee = assignee
        self.updated_at = now
        return True

    def rate(self, score: int, *, by: str, now: datetime) -> None:
        """The customer's satisfaction with a resolved or closed case, once; a resolved case
        closes with it."""
        if self.satisfaction is not None:
            raise CaseRatingError(
                f"case {self.case_number} was rated {self.satisfaction} on"
                f" {self.rated_at:%Y-%m-%d}; a case is rated once"
            )
        if self.status not in RATEABLE:
            raise CaseRatingError(
                f"case {self.case_number} is {self.status.value}; a case can be rated once it"
                " is resolved"
            )
        self.satisfaction, self.rated_at = score, now
        self.updated_at = now
        if self.status is CaseStatus.RESOLVED:
            self._move(CaseStatus.CLOSED, by=by, now=now, reason="rated by the customer")
        else:
            self.messages.append(CaseClosed(**self._announced(now), satisfaction=score))

    def breaches(self, now: datetime) -> list[Sla]:
        """Mark and announce each agreement missed by ``now`` and not marked before."""
        missed = []
        if self._first_response_pending() and now >= self.first_response_due_at:
            self.first_response_breached_at = now
            missed.append((Sla.FIRST_RESPONSE, self.first_response_due_at))
        if self._resolution_pending() and now >= self.resolution_due_at:
            self.resolution_breached_at = now
            missed.append((Sla.RESOLUTION, self.resolution_due_at))
        for sla, due_at in missed:
            self.messages.append(
                CaseSlaBreached(**self._announced(now), sla=sla.value, due_at=due_at)
            )
        self._refresh_sla_due()
        return [sla for sla, _ in missed]

    def _first_response_pending(self) -> bool:
        return (
            self.first_responded_at is None
            and self.first_response_breached_at is None
            and self.status in ANSWER_AWAITED
        )

    def _resolution_pending(self) -> bool:
        return self.resolution_breached_at is None and self.status in CLOCK_RUNS

    def _refresh_sla_due(self) -> None:
        pending = []
        if self._first_response_pending():
            pending.append(self.first_response_due_at)
        if self._resolution_pending():
            pending.append(self.resolution_due_at)
        self.sla_due_at = min(pending, default=None)

    def _check_not_closed(self, what: str) -> None:
        if self.closed:
            raise CaseClosedError(
                f"case {self.case_number} is closed and takes no {what}; open a new case"
            )

    def _move(self, to: CaseStatus, *, by: str, now: datetime, reason: str | None) -> None:
        was = self.status
        if was in CLOCK_RUNS and to not in CLOCK_RUNS:
            self.resolution_paused_since = now
        elif was not in CLOCK_RUNS and to in CLOCK_RUNS and self.resolution_paused_since:
            paused = now - self.resolution_paused_since
            self.resolution_paused += paused
            self.resolution_due_at += paused
            self.resolution_paused_since = None
        if to is CaseStatus.RESOLVED:
            self.resolved_at = now
        elif to is CaseStatus.OPEN:
            self.resolved_at = None
        elif to is CaseStatus.CLOSED:
            self.closed_at = now
        self.status = to
        self.updated_at = now
        self._refresh_sla_due()
        self.changes.append(StatusChange(was, to, by, now, reason))
        self.messages.append(
            CaseStatusChanged(**self._announced(now), from_status=was.value, to_status=to.value)
        )
        if to is CaseStatus.CLOSED:
            self.messages.append(CaseClosed(**self._announced(now), satisfaction=self.satisfaction))

    def _announced(self, now: datetime) -> _Announced:
        return _Announced(
            case_id=self.case_id,
            case_number=self.case_number,
            category=self.category,
            customer_id=self.customer_id,
            order_id=self.order_id,
            order_number=self.order_number,
            return_id=self.return_id,
            claim_id=self.claim_id,
            occurred_at=now,
        )

    @property
    def key(self) -> str:
        """The key of its messages: its order's id, else its own."""
        return str(self.order_id or self.case_id)


class _Announced(TypedDict):
    """The fields every case event carries."""

    case_id: UUID
    case_number: str
    category: CaseCategory
    customer_id: str
    order_id: UUID | None
    order_number: str | None
    return_id: UUID | None
    claim_id: UUID | None
    occurred_at: datetime
