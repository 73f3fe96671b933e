"""Cases: the status machine, the agreements' clocks (and their pauses), and the rating;
(``test_cases.py`` in the integration tests runs them through the API on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from orderly_schemas.support import (
    CaseCategory,
    CaseClosed,
    CaseOpened,
    CaseSlaBreached,
    CaseStatusChanged,
)
from orderly_support.domain.cases import (
    TRANSITIONS,
    Case,
    CaseClosedError,
    CaseRatingError,
    CaseStateError,
    CaseStatus,
    Party,
    Sla,
    SlaPolicy,
)
from orderly_support.domain.orders import KnownOrder

NOW = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
POLICY = SlaPolicy()
S = CaseStatus


def opened(
    category: CaseCategory = "delivery",
    *,
    order: KnownOrder | None = None,
    party: Party = Party.CUSTOMER,
    policy: SlaPolicy = POLICY,
) -> Case:
    return Case.open(
        case_id=uuid4(),
        case_number="CS-0000001",
        category=category,
        customer_id="C-ADA",
        order=order,
        return_id=None,
        claim_id=None,
        by="user-C-ADA",
        party=party,
        policy=policy,
        now=NOW,
    )


def at(case: Case, status: CaseStatus) -> Case:
    """``case`` moved by support along the shortest way to ``status``."""
    way = {
        S.NEW: [],
        S.OPEN: [S.OPEN],
        S.WAITING_ON_CUSTOMER: [S.OPEN, S.WAITING_ON_CUSTOMER],
        S.RESOLVED: [S.OPEN, S.RESOLVED],
        S.CLOSED: [S.CLOSED],
    }
    for step in way[status]:
        case.move(step, by="alice", now=NOW)
    case.messages.clear()
    return case


def test_a_case_opens_new_with_its_agreements_due_by_category_and_announced() -> None:
    order = KnownOrder(uuid4(), "ORD-0000007", "C-ADA", frozenset({"MUG-001"}), NOW)

    payment = opened("payment", order=order)
    delivery = opened("delivery")

    assert payment.status is S.NEW
    assert payment.first_response_due_at == NOW + 4 * HOUR
    assert delivery.first_response_due_at == NOW + 24 * HOUR
    assert payment.resolution_due_at == delivery.resolution_due_at == NOW + 72 * HOUR
    assert payment.sla_due_at == NOW + 4 * HOUR
    [announced] = payment.messages
    assert isinstance(announced, CaseOpened)
    assert (announced.order_id, announced.order_number) == (order.order_id, "ORD-0000007")
    assert announced.opened_by == "customer"
    assert payment.key == str(order.order_id)
    assert delivery.key == str(delivery.case_id)


def test_every_move_of_the_machine_is_allowed_and_every_other_is_refused_naming_both() -> None:
    for was in S:
        for to in S:
            case = at(opened(), was)
            if to is was:
                assert case.move(to, by="alice", now=NOW) is False
            elif to in TRANSITIONS[was]:
                assert case.move(to, by="alice", now=NOW) is True
                assert case.status is to
            else:
                with pytest.raises(CaseStateError) as refused:
                    case.move(to, by="alice", now=NOW)
                assert f"from {was.value} to {to.value}" in refused.value.message
                assert case.status is was


def test_a_move_is_recorded_and_announced_and_closing_also_announces_the_close() -> None:
    case = at(opened(), S.OPEN)
    case.changes.clear()

    case.move(S.CLOSED, by="alice", now=NOW + HOUR, reason="duplicate of CS-0000002")

    [change] = case.changes
    assert (change.from_status, change.to_status, change.by) == (S.OPEN, S.CLOSED, "alice")
    assert change.reason == "duplicate of CS-0000002"
    moved, closed = case.messages
    assert isinstance(moved, CaseStatusChanged)
    assert (moved.from_status, moved.to_status) == ("open", "closed")
    assert isinstance(closed, CaseClosed)
    assert closed.satisfaction is None
    assert case.closed_at == NOW + HOUR


def test_support_s_first_message_is_the_first_response_and_opens_a_new_case() -> None:
    case = opened()

    case.support_wrote(by="alice", now=NOW + HOUR)
    case.support_wrote(by="bob", now=NOW + 2 * HOUR)

    assert case.first_responded_at == NOW + HOUR
    assert case.status is S.OPEN
    assert case.changes[-1].reason == "first response"
    assert case.sla_due_at == case.resolution_due_at


def test_the_customer_s_reply_opens_a_case_waiting_on_them_or_resolved_again() -> None:
    waiting = at(opened(), S.WAITING_ON_CUSTOMER)
    resolved = at(opened(), S.RESOLVED)
    new = opened()

    for case in (waiting, resolved, new):
        case.customer_wrote(by="user-C-ADA", now=NOW + HOUR)

    assert waiting.status is resolved.status is S.OPEN
    assert new.status is S.NEW
    assert waiting.changes[-1].reason == "the customer replied"


def test_a_closed_case_takes_no_message_and_no_assignment() -> None:
    case = at(opened(), S.CLOSED)

    with pytest.raises(CaseClosedError):
        case.customer_wrote(by="user-C-ADA", now=NOW)
    with pytest.raises(CaseClosedError):
        case.support_wrote(by="alice", now=NOW)
    with pytest.raises(CaseClosedError):
        case.assign("alice", now=NOW)


def test_the_resolution_clock_pauses_while_waiting_on_the_customer_and_its_due_moves_on() -> None:
    case = at(opened(), S.OPEN)
    due = case.resolution_due_at

    case.move(S.WAITING_ON_CUSTOMER, by="alice", now=NOW + 10 * HOUR)
    paused = (case.resolution_paused_since, case.sla_due_at)
    case.customer_wrote(by="user-C-ADA", now=NOW + 40 * HOUR)

    assert paused == (NOW + 10 * HOUR, case.first_response_due_at)
    assert case.resolution_paused_since is None
    assert case.resolution_paused == 30 * HOUR
    assert case.resolution_due_at == due + 30 * HOUR


def test_the_resolution_clock_stands_still_while_resolved_until_the_customer_reopens_it() -> None:
    case = at(opened(), S.OPEN)
    case.support_wrote(by="alice", now=NOW)
    due = case.resolution_due_at

    case.move(S.RESOLVED, by="alice", now=NOW + 70 * HOUR)
    nothing_due = case.sla_due_at
    missed_while_resolved = case.breaches(NOW + 100 * HOUR)
    case.customer_wrote(by="user-C-ADA", now=NOW + 100 * HOUR)

    assert nothing_due is None
    assert missed_while_resolved == []
    assert case.resolution_due_at == due + 30 * HOUR
    assert case.sla_due_at == due + 30 * HOUR


def test_each_agreement_missed_is_marked_and_announced_once() -> None:
    case = opened("damaged")

    first = case.breaches(NOW + 5 * HOUR)
    again = case.breaches(NOW + 6 * HOUR)
    later = case.breaches(NOW + 73 * HOUR)
    after_all = case.breaches(NOW + 100 * HOUR)

    assert (first, again, later, after_all) == ([Sla.FIRST_RESPONSE], [], [Sla.RESOLUTION], [])
    assert case.first_response_breached_at == NOW + 5 * HOUR
    assert case.sla_due_at is None
    breached = [m for m in case.messages if isinstance(m, CaseSlaBreached)]
    assert [(m.sla, m.due_at) for m in breached] == [
        ("first_response", NOW + 4 * HOUR),
        ("resolution", NOW + 72 * HOUR),
    ]


def test_an_agreement_met_in_time_is_never_breached() -> None:
    case = opened("payment")
    case.support_wrote(by="alice", now=NOW + 3 * HOUR)
    case.move(S.RESOLVED, by="alice", now=NOW + 50 * HOUR)

    assert case.breaches(NOW + 1000 * HOUR) == []
    assert case.sla_due_at is None


def test_an_agreement_is_not_breached_before_its_due_time_with_the_pauses() -> None:
    policy = SlaPolicy(resolution=10 * HOUR)
    case = at(opened(policy=policy), S.OPEN)
    case.support_wrote(by="alice", now=NOW)
    case.move(S.WAITING_ON_CUSTOMER, by="alice", now=NOW + 5 * HOUR)
    case.customer_wrote(by="user-C-ADA", now=NOW + 25 * HOUR)

    assert case.breaches(NOW + 29 * HOUR) == []
    assert case.breaches(NOW + 30 * HOUR) == [Sla.RESOLUTION]


def test_rating_a_resolved_case_closes_it_with_the_score() -> None:
    case = at(opened(), S.RESOLVED)

    case.rate(4, by="user-C-ADA", now=NOW + HOUR)

    assert (case.status, case.satisfaction, case.rated_at) == (S.CLOSED, 4, NOW + HOUR)
    moved, closed = case.messages
    assert isinstance(moved, CaseStatusChanged)
    assert moved.to_status == "closed"
    assert isinstance(closed, CaseClosed)
    assert closed.satisfaction == 4


def test_a_closed_case_is_rated_once_and_its_close_announced_again_with_the_score() -> None:
    case = at(opened(), S.CLOSED)

    case.rate(2, by="user-C-ADA", now=NOW + HOUR)
    with pytest.raises(CaseRatingError, match="rated 2"):
        case.rate(5, by="user-C-ADA", now=NOW + 2 * HOUR)

    [closed] = case.messages
    assert isinstance(closed, CaseClosed)
    assert closed.satisfaction == 2


@pytest.mark.parametrize("status", [S.NEW, S.OPEN, S.WAITING_ON_CUSTOMER])
def test_a_case_not_yet_resolved_cannot_be_rated(status: CaseStatus) -> None:
    case = at(opened(), status)

    with pytest.raises(CaseRatingError, match="once it is resolved"):
        case.rate(5, by="user-C-ADA", now=NOW)


def test_assigning_a_case_to_its_assignee_changes_nothing() -> None:
    case = opened()

    assert case.assign("alice", now=NOW) is True
    assert case.assign("alice", now=NOW) is False
    assert case.assign(None, now=NOW) is True
    assert case.assignee is None
