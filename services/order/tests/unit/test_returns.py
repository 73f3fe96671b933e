"""Returns of delivered orders: what may be returned, when, and who approves it; then the
use cases on returns kept in memory (``test_returns.py`` in the integration tests runs
them on PostgreSQL: locking, numbering, the outbox)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from orderly_dev.checkout import make_order
from orderly_dev.unit_of_work import FakeUnitOfWork
from orderly_kit.audit import Actor
from orderly_kit.clock import ManualClock
from orderly_order import use_cases
from orderly_order.domain.order import Order, Status, Timeouts
from orderly_order.domain.returns import (
    RULE,
    InvalidReturnError,
    OrderNotReturnableError,
    Refund,
    ReplacementAsked,
    ReplacementState,
    Return,
    ReturnPolicy,
    ReturnStateError,
    ReturnStatus,
    ReturnWindowClosedError,
    Settling,
    return_of_refund,
    value_of,
)
from orderly_schemas.base import Message, Money, OrderLine, StockLine
from orderly_schemas.inventory import (
    ReturnLine,
    ReturnParcelBooked,
    ReturnRestocked,
    ShipReplacement,
)
from orderly_schemas.payment import ChargePayment, PaymentRefunded, RefundFailed, RefundPayment
from orderly_schemas.returns import ReturnCompleted, ReturnReason

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T = Timeouts()
POLICY = ReturnPolicy(window=timedelta(days=30), auto_approve_max_amount=3000)
MUG, TEA = "MUG-001", "TEA-002"


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def ordered(lines: list[OrderLine] | None = None) -> Order:
    """An order of two mugs at 12.99 and a tea at 6.49, placed and confirmed."""
    lines = lines or [
        OrderLine(sku=MUG, quantity=2, unit_price=eur(1299)),
        OrderLine(sku=TEA, quantity=1, unit_price=eur(649)),
    ]
    total = eur(sum(line.unit_price.amount * line.quantity for line in lines))
    event = make_order().model_copy(update={"lines": lines, "total": total})
    return Order.place(event, order_number="ORD-0000001", now=NOW, timeouts=T)


def shipped(order: Order | None = None) -> Order:
    order = order or ordered()
    order.stock_reserved(NOW, T)
    order.payment_captured("pay_1", order.total, NOW, T)
    order.shipped("SimPost", ["SP1"], NOW, T)
    return order


def delivered(order: Order | None = None) -> Order:
    order = shipped(order)
    order.delivered(NOW, NOW, T)
    return order


def request(
    order: Order,
    lines: list[StockLine],
    *,
    reason: ReturnReason = "damaged",
    text: str | None = None,
    in_other_returns: Mapping[str, int] | None = None,
    at: datetime = NOW + timedelta(days=3),
) -> Return:
    return Return.request(
        order,
        return_id=uuid4(),
        return_number="RMA-0000001",
        lines=lines,
        reason=reason,
        reason_text=text,
        requested_by="user-C1",
        in_other_returns=in_other_returns or {},
        policy=POLICY,
        now=at,
    )


def types(returned: Return) -> list[str]:
    return [m.message_type() for m in returned.messages]


def status_of(returned: Return) -> ReturnStatus:
    """The status, read through a call so that type narrowing forgets earlier asserts."""
    return returned.status


def test_damaged_goods_worth_little_are_approved_at_once_by_rule() -> None:
    returned = request(delivered(), [StockLine(sku=MUG, quantity=2)])

    assert returned.status is ReturnStatus.APPROVED
    assert returned.decided_by == RULE
    assert types(returned) == ["ReturnRequested", "ReturnApproved", "BookReturnParcel"]


def test_a_wrong_item_is_approved_by_rule_too() -> None:
    returned = request(delivered(), [StockLine(sku=TEA, quantity=1)], reason="wrong_item")

    assert returned.status is ReturnStatus.APPROVED


def test_damaged_goods_worth_more_than_the_threshold_wait_for_support() -> None:
    order = delivered(ordered([OrderLine(sku=MUG, quantity=3, unit_price=eur(1299))]))

    returned = request(order, [StockLine(sku=MUG, quantity=3)])  # 38.97 > 30.00

    assert returned.status is ReturnStatus.REQUESTED
    assert returned.decided_by is None
    assert types(returned) == ["ReturnRequested"]


@pytest.mark.parametrize("reason", ["not_as_described", "no_longer_needed"])
def test_other_reasons_wait_for_support_however_cheap(reason: ReturnReason) -> None:
    returned = request(delivered(), [StockLine(sku=TEA, quantity=1)], reason=reason)

    assert returned.status is ReturnStatus.REQUESTED


def test_a_return_is_worth_each_sku_at_the_highest_price_the_order_paid() -> None:
    order = ordered(
        [
            OrderLine(sku=MUG, quantity=1, unit_price=eur(1000)),
            OrderLine(sku=MUG, quantity=1, unit_price=eur(2500)),
        ]
    )

    assert value_of(order, [StockLine(sku=MUG, quantity=2)]) == eur(5000)


def test_the_events_name_the_return_and_its_order_and_no_personal_data() -> None:
    order = delivered()
    returned = request(order, [StockLine(sku=MUG, quantity=1)], text="chipped rim")

    requested = returned.messages[0].model_dump(mode="json")

    assert requested["return_number"] == "RMA-0000001"
    assert requested["order_number"] == "ORD-0000001"
    assert requested["customer_id"] == order.customer_id
    assert requested["lines"] == [{"sku": MUG, "quantity": 1}]
    assert (requested["reason"], requested["reason_text"]) == ("damaged", "chipped rim")
    assert requested["resolution"] == "refund"
    wire = returned.messages[0].model_dump_json()
    for personal in (order.customer_email, order.customer_name):
        assert personal is not None
        assert personal not in wire


def test_a_completed_order_can_be_returned() -> None:
    order = delivered()
    order.complete(confirmed_by="customer", now=NOW)

    returned = request(order, [StockLine(sku=MUG, quantity=1)])

    assert order.status is Status.COMPLETED
    assert returned.status is ReturnStatus.APPROVED


@pytest.mark.parametrize("make", [ordered, shipped])
def test_an_order_not_yet_delivered_cannot_be_returned(make: Callable[[], Order]) -> None:
    with pytest.raises(OrderNotReturnableError, match=r"only goods of a delivered order"):
        request(make(), [StockLine(sku=MUG, quantity=1)])


def test_the_window_is_open_until_its_last_moment_after_delivery_and_then_closes() -> None:
    closes = NOW + POLICY.window

    last_moment = request(delivered(), [StockLine(sku=MUG, quantity=1)], at=closes)
    with pytest.raises(ReturnWindowClosedError, match=r"return window of 30 days closed"):
        request(delivered(), [StockLine(sku=MUG, quantity=1)], at=closes + timedelta(seconds=1))

    assert last_moment.status is ReturnStatus.APPROVED


def test_more_units_than_were_delivered_are_refused_naming_the_lines_quantity() -> None:
    with pytest.raises(InvalidReturnError, match=r"at most 2 unit\(s\) of MUG-001") as refused:
        request(delivered(), [StockLine(sku=TEA, quantity=1), StockLine(sku=MUG, quantity=3)])

    assert refused.value.loc == ("lines", 1, "quantity")
    assert refused.value.value == 3


def test_units_in_other_returns_count_against_what_is_left() -> None:
    order = delivered()

    with pytest.raises(InvalidReturnError, match=r"2 delivered, 1 in other returns") as refused:
        request(order, [StockLine(sku=MUG, quantity=2)], in_other_returns={MUG: 1})
    last = request(order, [StockLine(sku=MUG, quantity=1)], in_other_returns={MUG: 1})

    assert refused.value.loc == ("lines", 0, "quantity")
    assert last.lines == [StockLine(sku=MUG, quantity=1)]


def test_a_sku_the_order_does_not_have_is_refused() -> None:
    with pytest.raises(InvalidReturnError, match=r"has no line of sku 'SOCK-9'") as refused:
        request(delivered(), [StockLine(sku="SOCK-9", quantity=1)])

    assert refused.value.loc == ("lines", 0, "sku")


def test_a_sku_given_twice_is_refused() -> None:
    lines = [StockLine(sku=MUG, quantity=1), StockLine(sku=MUG, quantity=1)]

    with pytest.raises(InvalidReturnError, match=r"appears more than once") as refused:
        request(delivered(), lines)

    assert refused.value.loc == ("lines", 1, "sku")


def test_a_return_of_nothing_is_refused() -> None:
    with pytest.raises(InvalidReturnError, match=r"at least one line") as refused:
        request(delivered(), [])

    assert refused.value.loc == ("lines",)


def test_the_reason_other_needs_the_customers_words() -> None:
    order = delivered()

    with pytest.raises(InvalidReturnError, match=r"say why") as refused:
        request(order, [StockLine(sku=MUG, quantity=1)], reason="other", text="  ")
    said = request(order, [StockLine(sku=MUG, quantity=1)], reason="other", text="a gift twice")

    assert refused.value.loc == ("reason_text",)
    assert said.status is ReturnStatus.REQUESTED


def test_a_reason_not_on_the_list_is_refused() -> None:
    with pytest.raises(InvalidReturnError, match=r"must be one of: damaged") as refused:
        request(delivered(), [StockLine(sku=MUG, quantity=1)], reason="bored")  # type: ignore[arg-type]

    assert refused.value.loc == ("reason",)


def waiting() -> Return:
    returned = request(delivered(), [StockLine(sku=TEA, quantity=1)], reason="no_longer_needed")
    returned.messages.clear()
    return returned


def test_support_approves_a_waiting_return_once() -> None:
    returned = waiting()
    later = NOW + timedelta(days=4)

    first = returned.approve(by="alice", now=later, policy=POLICY, order=delivered())
    again = returned.approve(by="bob", now=later, policy=POLICY, order=delivered())

    assert (first, again) == (True, False)
    assert (returned.status, returned.decided_by, returned.decided_at) == (
        ReturnStatus.APPROVED,
        "alice",
        later,
    )
    assert types(returned) == ["ReturnApproved", "BookReturnParcel"]


def test_support_rejects_a_waiting_return_saying_why_once() -> None:
    returned = waiting()

    first = returned.reject(by="alice", reason="worn, not faulty", now=NOW)
    again = returned.reject(by="alice", reason="still worn", now=NOW)

    assert (first, again) == (True, False)
    assert status_of(returned) is ReturnStatus.REJECTED
    assert returned.rejection_reason == "worn, not faulty"
    rejected = returned.messages[0].model_dump()
    assert (rejected["rejected_by"], rejected["rejection_reason"]) == ("alice", "worn, not faulty")
    assert types(returned) == ["ReturnRejected"]


def test_a_decided_return_cannot_be_decided_the_other_way() -> None:
    approved, rejected = waiting(), waiting()
    approved.approve(by="alice", now=NOW, policy=POLICY, order=delivered())
    rejected.reject(by="alice", reason="worn", now=NOW)

    with pytest.raises(ReturnStateError, match=r"is approved; only a requested return"):
        approved.reject(by="bob", reason="changed my mind", now=NOW)
    with pytest.raises(ReturnStateError, match=r"is rejected; only a requested return"):
        rejected.approve(by="bob", now=NOW, policy=POLICY, order=delivered())

    assert (status_of(approved), status_of(rejected)) == (
        ReturnStatus.APPROVED,
        ReturnStatus.REJECTED,
    )


@dataclass
class FakeReturns:
    """``Returns`` in memory: the orders returns are requested of, and the returns."""

    orders: dict[UUID, Order] = field(default_factory=dict)
    rows: dict[UUID, Return] = field(default_factory=dict)
    numbered: int = 0

    async def order_held(self, order_id: UUID) -> Order | None:
        return self.orders.get(order_id)

    async def order_as_placed(self, order_id: UUID) -> Order | None:
        return self.orders.get(order_id)

    async def outgoing(self, order: Order, message: Message) -> Message:
        return message  # sealing is the adapter's (integration tests)

    async def with_replacement(self, replacement_id: UUID) -> UUID | None:
        return next(
            (r.return_id for r in self.rows.values() if r.replacement_id == replacement_id), None
        )

    async def units_in_returns(self, order_id: UUID) -> dict[str, int]:
        units: dict[str, int] = {}
        for returned in self.rows.values():
            if returned.order_id == order_id and returned.status is not ReturnStatus.REJECTED:
                for line in returned.lines:
                    units[line.sku] = units.get(line.sku, 0) + line.quantity
        return units

    async def next_return_number(self) -> str:
        self.numbered += 1
        return f"RMA-{self.numbered:07d}"

    async def add(self, returned: Return) -> None:
        await self.save(returned)

    async def get(self, return_id: UUID) -> Return | None:
        found = self.rows.get(return_id)
        return replace(found, messages=[]) if found else None

    async def save(self, returned: Return) -> None:
        # As a row keeps it: its messages go to the outbox, not into the table.
        self.rows[returned.return_id] = replace(returned, messages=[])

    async def refunded_by_other_returns(self, returned: Return) -> int:
        return sum(
            r.refund.amount.amount
            for r in self.rows.values()
            if r.order_id == returned.order_id
            and r.return_id != returned.return_id
            and r.refund is not None
        )

    async def claim_due(self, now: datetime, *, limit: int) -> list[Return]:
        due = [r for r in self.rows.values() if r.deadline_at is not None and r.deadline_at <= now]
        due.sort(key=lambda r: r.deadline_at or now)
        return [replace(r, messages=[]) for r in due[:limit]]


def world() -> tuple[FakeReturns, Order]:
    order = delivered()
    return FakeReturns(orders={order.order_id: order}), order


def unit_of_work(repo: FakeReturns) -> FakeUnitOfWork[FakeReturns]:
    return FakeUnitOfWork(repo, clock=ManualClock(NOW + timedelta(days=2)), service="order")


async def ask(
    repo: FakeReturns, order: Order, lines: list[StockLine], reason: ReturnReason
) -> tuple[Return | None, FakeUnitOfWork[FakeReturns]]:
    uow = unit_of_work(repo)
    returned = await use_cases.returns.request_return(
        uow,
        order.order_id,
        lines=lines,
        reason=reason,
        reason_text=None,
        requested_by="user-C1",
        policy=POLICY,
    )
    return returned, uow


async def test_a_request_is_numbered_kept_and_announced_keyed_by_its_order() -> None:
    repo, order = world()

    returned, uow = await ask(repo, order, [StockLine(sku=MUG, quantity=1)], "damaged")

    assert returned is not None
    assert returned.return_number == "RMA-0000001"
    assert repo.rows[returned.return_id].status is ReturnStatus.APPROVED
    assert uow.published_types() == ["ReturnRequested", "ReturnApproved", "BookReturnParcel"]
    assert uow.audited == []  # the rules are nobody privileged


async def test_a_request_for_an_order_that_is_not_there_is_none() -> None:
    repo, _ = world()

    returned, uow = await ask(repo, ordered(), [StockLine(sku=MUG, quantity=1)], "damaged")

    assert returned is None
    assert uow.published == []


async def test_a_second_request_counts_the_units_of_the_first_until_it_is_rejected() -> None:
    repo, order = world()
    first, _ = await ask(repo, order, [StockLine(sku=MUG, quantity=2)], "no_longer_needed")
    assert first is not None

    with pytest.raises(InvalidReturnError, match=r"2 delivered, 2 in other returns"):
        await ask(repo, order, [StockLine(sku=MUG, quantity=1)], "damaged")
    await use_cases.returns.reject_return(
        unit_of_work(repo), first.return_id, reason="worn", staff=Actor("alice", "support")
    )
    again, _ = await ask(repo, order, [StockLine(sku=MUG, quantity=1)], "damaged")

    assert again is not None


async def test_supports_decision_is_audited_once_and_a_repeat_changes_nothing() -> None:
    repo, order = world()
    asked, _ = await ask(repo, order, [StockLine(sku=TEA, quantity=1)], "not_as_described")
    assert asked is not None
    alice = Actor("alice", "support")

    first, second = unit_of_work(repo), unit_of_work(repo)
    await use_cases.returns.approve_return(first, asked.return_id, staff=alice, policy=POLICY)
    await use_cases.returns.approve_return(second, asked.return_id, staff=alice, policy=POLICY)

    assert first.published_types() == ["ReturnApproved", "BookReturnParcel"]
    [entry] = first.audited
    assert (entry.action, entry.target) == ("return.approve", f"return:{asked.return_id}")
    assert (second.published, second.audited) == ([], [])
    assert repo.rows[asked.return_id].decided_by == "alice"


async def test_deciding_a_return_that_is_not_there_is_none() -> None:
    repo, _ = world()

    found = await use_cases.returns.approve_return(
        unit_of_work(repo), uuid4(), staff=Actor("alice", "support"), policy=POLICY
    )

    assert found is None


# The saga after approval: the parcel, the goods, the refund, the deadlines.

LATER = NOW + timedelta(days=3, hours=1)


def approved(
    lines: list[StockLine] | None = None,
    *,
    reason: ReturnReason = "damaged",
    order: Order | None = None,
) -> tuple[Return, Order]:
    order = order or delivered()
    returned = request(order, lines or [StockLine(sku=MUG, quantity=1)], reason=reason)
    if returned.status is ReturnStatus.REQUESTED:
        returned.approve(by="alice", now=NOW + timedelta(days=3), policy=POLICY, order=order)
    returned.messages.clear()
    return returned, order


def booked(returned: Return, at: datetime = LATER) -> Return:
    returned.parcel_booked(
        ReturnParcelBooked(
            order_id=returned.order_id,
            occurred_at=at,
            return_id=returned.return_id,
            warehouse="hamburg-2",
            carrier="SimPost",
            tracking_number="SR0123456789AB",
        ),
        at,
        POLICY,
    )
    returned.messages.clear()
    return returned


def restocked(returned: Return, *lines: tuple[str, int, str]) -> ReturnRestocked:
    return ReturnRestocked(
        order_id=returned.order_id,
        occurred_at=LATER,
        return_id=returned.return_id,
        warehouse="hamburg-2",
        lines=[ReturnLine(sku=sku, quantity=n, condition=c) for sku, n, c in lines],
    )


def receive(
    returned: Return, order: Order, *lines: tuple[str, int, str], refunded_before: int = 0
) -> bool:
    return returned.received_back(
        restocked(returned, *lines),
        order=order,
        refunded_before=refunded_before,
        now=LATER,
        policy=POLICY,
    )


def refund_asked(returned: Return) -> RefundPayment:
    [command] = [m for m in returned.messages if isinstance(m, RefundPayment)]
    return command


def test_an_approved_return_asks_inventory_for_its_parcel_and_waits_for_the_answer() -> None:
    returned = request(delivered(), [StockLine(sku=MUG, quantity=1)])

    [command] = [m for m in returned.messages if m.message_type() == "BookReturnParcel"]
    assert command.model_dump()["lines"] == [{"sku": MUG, "quantity": 1}]
    assert returned.deadline_at == NOW + timedelta(days=3) + POLICY.reply


def test_the_booked_parcel_issues_a_label_that_expires_and_a_repeat_changes_nothing() -> None:
    returned, _ = approved()

    booked(returned)
    again = returned.parcel_booked(
        ReturnParcelBooked(
            order_id=returned.order_id,
            occurred_at=LATER,
            return_id=returned.return_id,
            warehouse="hamburg-2",
            carrier="SimPost",
            tracking_number="SR0123456789AB",
        ),
        LATER,
        POLICY,
    )

    assert again is False
    assert returned.status is ReturnStatus.LABEL_ISSUED
    assert (returned.carrier, returned.tracking_number) == ("SimPost", "SR0123456789AB")
    assert returned.label_expires_at == returned.deadline_at == LATER + POLICY.label_valid


def test_a_label_never_used_expires_the_return_and_a_late_parcel_still_brings_it_back() -> None:
    returned = booked(approved()[0])
    expiry = LATER + POLICY.label_valid

    assert returned.deadline_passed(expiry - timedelta(seconds=1), POLICY) is False
    assert returned.deadline_passed(expiry, POLICY) is True
    assert status_of(returned) is ReturnStatus.EXPIRED
    assert types(returned) == ["ReturnExpired"]
    assert returned.deadline_at is None

    returned.parcel_tracked("in_transit", None, expiry + timedelta(days=1), POLICY)

    assert status_of(returned) is ReturnStatus.IN_TRANSIT
    assert returned.closing_reason is None


def test_goods_that_arrive_wait_for_inspection_then_need_attention() -> None:
    returned = booked(approved()[0])
    returned.parcel_tracked("in_transit", None, LATER, POLICY)
    returned.parcel_tracked("delivered", None, LATER + timedelta(days=2), POLICY)
    assert status_of(returned) is ReturnStatus.ARRIVED

    returned.deadline_passed(LATER + timedelta(days=2) + POLICY.inspection, POLICY)

    assert status_of(returned) is ReturnStatus.NEEDS_ATTENTION
    assert returned.closing_reason == "the goods arrived and were not inspected within 3 day(s)"
    assert types(returned) == ["ReturnNeedsAttention"]


def test_goods_received_in_order_are_refunded_in_full_when_the_fault_was_ours() -> None:
    returned, order = approved([StockLine(sku=MUG, quantity=2)], reason="damaged")
    booked(returned)

    assert receive(returned, order, (MUG, 1, "resellable"), (MUG, 1, "damaged"))

    assert returned.status is ReturnStatus.REFUNDING
    assert types(returned) == ["ReturnReceived", "RefundPayment"]
    command = refund_asked(returned)
    assert (command.refund_id, command.amount) == (f"return:{returned.return_id}", eur(2598))
    assert returned.deadline_at == LATER + POLICY.refund

    returned.messages.clear()
    assert returned.refund_settled(command.refund_id, LATER) is True
    assert status_of(returned) is ReturnStatus.COMPLETED
    [completed] = returned.messages
    assert isinstance(completed, ReturnCompleted)
    assert (completed.refunded, completed.restocking_fee) == (eur(2598), eur(0))
    assert returned.deadline_at is None


def test_a_change_of_mind_pays_the_restocking_fee_and_damage_of_the_customers_own() -> None:
    returned, order = approved([StockLine(sku=MUG, quantity=2)], reason="no_longer_needed")

    receive(returned, order, (MUG, 1, "resellable"), (MUG, 1, "damaged"))

    # One mug qualifies (12.99), less 10 %: 11.70 back, 1.29 kept.
    assert returned.refund == Refund(amount=eur(1170), fee=eur(129))
    assert refund_asked(returned).amount == eur(1170)


def test_nothing_refundable_completes_the_return_without_a_refund() -> None:
    returned, order = approved([StockLine(sku=TEA, quantity=1)], reason="no_longer_needed")

    receive(returned, order, (TEA, 1, "damaged"))

    assert returned.status is ReturnStatus.COMPLETED
    assert types(returned) == ["ReturnReceived", "ReturnCompleted"]
    completed = returned.messages[-1]
    assert isinstance(completed, ReturnCompleted)
    assert (completed.refunded, completed.refund_id) == (eur(0), None)


def test_goods_beyond_the_return_are_received_but_not_refunded() -> None:
    returned, order = approved([StockLine(sku=MUG, quantity=1)])

    receive(returned, order, (MUG, 2, "resellable"), (TEA, 1, "resellable"))

    assert refund_asked(returned).amount == eur(1299)
    assert len(returned.received) == 2


def test_a_sku_listed_twice_is_refunded_at_what_the_order_paid_for_it_on_average() -> None:
    order = delivered(
        ordered(
            [
                OrderLine(sku=MUG, quantity=1, unit_price=eur(1000)),
                OrderLine(sku=MUG, quantity=2, unit_price=eur(1301)),
            ]
        )
    )
    returned, _ = approved([StockLine(sku=MUG, quantity=2)], reason="wrong_item", order=order)

    receive(returned, order, (MUG, 2, "resellable"))

    assert refund_asked(returned).amount == eur((1000 + 2 * 1301) * 2 // 3)


def test_the_refund_never_takes_the_order_past_what_was_captured() -> None:
    returned, order = approved([StockLine(sku=MUG, quantity=2)])

    receive(returned, order, (MUG, 2, "resellable"), refunded_before=order.total.amount - 500)

    assert refund_asked(returned).amount == eur(500)


def test_an_inspection_reported_twice_refunds_once() -> None:
    returned, order = approved()
    receive(returned, order, (MUG, 1, "resellable"))
    returned.messages.clear()

    assert receive(returned, order, (MUG, 1, "resellable")) is False
    assert returned.messages == []


def test_an_unanswered_parcel_request_is_sent_again_unless_still_queued_then_flagged() -> None:
    returned, _ = approved()
    due = returned.deadline_at
    assert due is not None

    returned.deadline_passed(due, POLICY, queued=True)
    assert (types(returned), returned.resends) == ([], 0)
    for n in range(1, POLICY.max_resends + 1):
        assert returned.deadline_at is not None
        returned.deadline_passed(returned.deadline_at, POLICY)
        assert returned.resends == n
    assert types(returned) == ["BookReturnParcel"] * POLICY.max_resends
    assert returned.deadline_at is not None
    returned.deadline_passed(returned.deadline_at, POLICY)

    assert status_of(returned) is ReturnStatus.NEEDS_ATTENTION
    assert returned.closing_reason == "no answer to the return parcel after 4 attempt(s)"
    # A late answer still counts.
    booked(returned)
    assert status_of(returned) is ReturnStatus.LABEL_ISSUED


def test_a_refund_that_keeps_failing_flags_finance_and_a_retry_asks_under_a_new_id() -> None:
    returned, order = approved()
    receive(returned, order, (MUG, 1, "resellable"))
    first = refund_asked(returned).refund_id
    returned.messages.clear()

    returned.refund_failed(first, "provider unavailable", 5, LATER)
    assert status_of(returned) is ReturnStatus.NEEDS_ATTENTION
    assert returned.closing_reason == "refund failed after 5 attempt(s): provider unavailable"
    returned.messages.clear()

    returned.retry(LATER, POLICY)
    second = refund_asked(returned).refund_id

    assert second == f"return:{returned.return_id}#2"
    assert return_of_refund(second) == return_of_refund(first) == returned.return_id
    assert returned.refund_settled(first, LATER) is False
    assert returned.refund_settled(second, LATER) is True
    assert status_of(returned) is ReturnStatus.COMPLETED


def test_a_refused_parcel_needs_attention_and_a_retry_asks_for_it_again() -> None:
    returned, _ = approved()

    returned.parcel_refused("SimPost does not collect from postal code 00000", LATER)
    returned.retry(LATER, POLICY)

    assert status_of(returned) is ReturnStatus.APPROVED
    assert types(returned) == ["ReturnNeedsAttention", "BookReturnParcel"]
    with pytest.raises(ReturnStateError, match=r"only a return that needs attention"):
        returned.retry(LATER, POLICY)


async def test_two_returns_of_one_order_never_refund_more_than_was_captured() -> None:
    repo, order = world()
    first, _ = await ask(repo, order, [StockLine(sku=MUG, quantity=2)], "damaged")
    second, _ = await ask(repo, order, [StockLine(sku=TEA, quantity=1)], "damaged")
    assert first is not None
    assert second is not None
    # As if a refund of the order had already taken all but 3.00 of the mugs' part.
    order.total = eur(2 * 1299 + 300)

    for returned, sku, n in ((first, MUG, 2), (second, TEA, 1)):
        await use_cases.returns.record_return_received(
            unit_of_work(repo), restocked(returned, (sku, n, "resellable")), policy=POLICY
        )

    refunds = [repo.rows[r.return_id].refund for r in (first, second)]
    assert [r.amount.amount for r in refunds if r] == [2598, 300]


async def test_a_restock_of_a_return_that_is_not_ours_is_skipped() -> None:
    repo, order = world()
    stranger = approved(order=order)[0]
    uow = unit_of_work(repo)

    await use_cases.returns.record_return_received(
        uow, restocked(stranger, (MUG, 1, "resellable")), policy=POLICY
    )

    assert uow.published == []


async def test_the_refunds_answers_find_their_return_by_the_refund_id() -> None:
    repo, order = world()
    asked, _ = await ask(repo, order, [StockLine(sku=MUG, quantity=1)], "damaged")
    assert asked is not None
    await use_cases.returns.record_return_received(
        unit_of_work(repo), restocked(asked, (MUG, 1, "resellable")), policy=POLICY
    )
    refund_id = f"return:{asked.return_id}"

    failed = unit_of_work(repo)
    await use_cases.returns.record_return_refund_failed(
        failed,
        RefundFailed(
            order_id=order.order_id,
            occurred_at=LATER,
            refund_id=refund_id,
            amount=eur(1299),
            reason="declined",
        ),
    )
    await use_cases.returns.retry_return(
        unit_of_work(repo), asked.return_id, staff=Actor("fred", "finance"), policy=POLICY
    )
    settled = unit_of_work(repo)
    await use_cases.returns.record_return_refunded(
        settled,
        PaymentRefunded(
            order_id=order.order_id,
            occurred_at=LATER,
            refund_id=f"{refund_id}#2",
            amount=eur(1299),
            provider_reference="re_1",
        ),
    )

    assert failed.published_types() == ["ReturnNeedsAttention"]
    assert settled.published_types() == ["ReturnCompleted"]
    assert repo.rows[asked.return_id].status is ReturnStatus.COMPLETED


@dataclass
class StillQueued:
    orders: set[UUID]

    async def still_waiting(self, session: object, orders: object) -> set[UUID]:
        return set(self.orders)


async def test_due_returns_wait_again_while_their_command_is_queued() -> None:
    repo, order = world()
    asked, _ = await ask(repo, order, [StockLine(sku=MUG, quantity=1)], "damaged")
    assert asked is not None
    later = NOW + timedelta(days=3)

    queued = FakeUnitOfWork(repo, clock=ManualClock(later), service="order")
    await use_cases.returns.process_due_returns(
        queued, policy=POLICY, queue=StillQueued({order.order_id})
    )
    resent = FakeUnitOfWork(repo, clock=ManualClock(later + POLICY.reply), service="order")
    await use_cases.returns.process_due_returns(resent, policy=POLICY, queue=StillQueued(set()))

    assert queued.published == []
    assert resent.published_types() == ["BookReturnParcel"]
    assert repo.rows[asked.return_id].resends == 1


# -- exchanges -------------------------------------------------------------------------
ON_APPROVAL = ReturnPolicy(
    window=timedelta(days=30), auto_approve_max_amount=3000, exchange_ships="on_approval"
)
BIG_MUG = "MUG-BIG"


def exchange(
    order: Order,
    replacement: list[ReplacementAsked],
    *,
    lines: list[StockLine] | None = None,
    policy: ReturnPolicy = POLICY,
    reason: ReturnReason = "damaged",
) -> Return:
    returned = Return.request(
        order,
        return_id=uuid4(),
        return_number="RMA-0000009",
        lines=lines or [StockLine(sku=MUG, quantity=1)],
        reason=reason,
        reason_text=None,
        requested_by="alice",
        in_other_returns={},
        policy=policy,
        now=NOW + timedelta(days=3),
        resolution="exchange",
        replacement=replacement,
        may_price=True,
    )
    if returned.status is ReturnStatus.REQUESTED:
        returned.approve(by="alice", now=NOW + timedelta(days=3), policy=policy, order=order)
    return booked(returned)


def shipped_back(returned: Return, order: Order, *, tracking: str = "SR-X") -> bool:
    assert returned.replacement_id is not None
    return returned.replacement_shipped(
        returned.replacement_id,
        "SimPost",
        [tracking],
        at=Settling(order, 0, LATER, POLICY),
    )


def test_a_like_for_like_exchange_ships_on_receipt_and_refunds_nothing() -> None:
    order = delivered()
    returned = exchange(order, [ReplacementAsked(sku=MUG, quantity=1)])
    assert returned.replacement == [OrderLine(sku=MUG, quantity=1, unit_price=eur(1299))]
    assert returned.status is ReturnStatus.LABEL_ISSUED  # approved by rule: damaged, no dearer

    assert receive(returned, order, (MUG, 1, "damaged"))
    assert status_of(returned) is ReturnStatus.REPLACING
    [ship] = [m for m in returned.messages if isinstance(m, ShipReplacement)]
    assert [(s.sku, s.quantity) for s in ship.lines] == [(MUG, 1)]
    assert ship.replacement_id == returned.replacement_id
    assert ship.ship_to == order.shipping_address
    returned.messages.clear()

    assert shipped_back(returned, order)
    assert status_of(returned) is ReturnStatus.COMPLETED
    assert types(returned) == ["ReturnReplacementShipped", "ReturnCompleted"]
    done = returned.messages[-1]
    assert isinstance(done, ReturnCompleted)
    assert (done.refunded, done.charged, done.resolution) == (eur(0), None, "exchange")
    assert [(s.sku, s.quantity) for s in done.replacement] == [(MUG, 1)]


def test_a_dearer_replacement_is_charged_the_difference_before_it_ships() -> None:
    order = delivered()
    returned = exchange(
        order,
        [ReplacementAsked(sku=BIG_MUG, quantity=1, unit_price=eur(1899))],
        reason="no_longer_needed",
    )
    receive(returned, order, (MUG, 1, "resellable"))
    [charge] = [m for m in returned.messages if isinstance(m, ChargePayment)]
    assert (charge.amount, charge.charge_id) == (eur(600), f"exchange:{returned.return_id}")
    assert charge.payment == order.payment
    assert returned.replacement_state is ReplacementState.CHARGING
    returned.messages.clear()

    charged = returned.replacement_charged(
        charge.charge_id,
        eur(600),
        at=Settling(order, 0, LATER, POLICY),
    )
    assert charged
    assert types(returned) == ["ShipReplacement"]
    returned.messages.clear()
    shipped_back(returned, order)
    done = returned.messages[-1]
    assert isinstance(done, ReturnCompleted)
    assert (done.refunded, done.charged, done.restocking_fee) == (eur(0), eur(600), eur(0))


def test_a_cheaper_replacement_refunds_the_difference_once_it_shipped() -> None:
    order = delivered()
    returned = exchange(order, [ReplacementAsked(sku=TEA, quantity=1)])  # 6.49 for 12.99
    receive(returned, order, (MUG, 1, "resellable"))
    returned.messages.clear()
    shipped_back(returned, order)

    assert status_of(returned) is ReturnStatus.REFUNDING
    assert refund_asked(returned).amount == eur(1299 - 649)


def test_a_replacement_out_of_stock_turns_the_exchange_into_a_refund_of_goods_and_charge() -> None:
    order = delivered()
    returned = exchange(order, [ReplacementAsked(sku=BIG_MUG, quantity=1, unit_price=eur(1899))])
    receive(returned, order, (MUG, 1, "resellable"))
    returned.replacement_charged(
        f"exchange:{returned.return_id}",
        eur(600),
        at=Settling(order, 0, LATER, POLICY),
    )
    returned.messages.clear()
    assert returned.replacement_id is not None

    assert returned.replacement_refused(
        returned.replacement_id,
        "insufficient stock",
        at=Settling(order, 0, LATER, POLICY),
    )
    assert types(returned) == ["ReturnReplacementUnavailable", "RefundPayment"]
    assert returned.resolution == "refund"
    assert refund_asked(returned).amount == eur(1299 + 600)  # the goods, and what was charged


def test_a_declined_difference_turns_the_exchange_into_a_refund_without_a_fee() -> None:
    order = delivered()
    returned = exchange(
        order,
        [ReplacementAsked(sku=BIG_MUG, quantity=1, unit_price=eur(1899))],
        reason="no_longer_needed",
    )
    receive(returned, order, (MUG, 1, "resellable"))
    returned.messages.clear()

    assert returned.charge_failed(
        f"exchange:{returned.return_id}",
        "card declined",
        at=Settling(order, 0, LATER, POLICY),
    )
    assert types(returned) == ["ReturnReplacementUnavailable", "RefundPayment"]
    assert refund_asked(returned).amount == eur(1299)


def test_on_approval_the_replacement_ships_at_once_and_the_return_settles_on_receipt() -> None:
    order = delivered()
    returned = Return.request(
        order,
        return_id=uuid4(),
        return_number="RMA-0000010",
        lines=[StockLine(sku=MUG, quantity=1)],
        reason="damaged",
        reason_text=None,
        requested_by="user-C1",
        in_other_returns={},
        policy=ON_APPROVAL,
        now=NOW + timedelta(days=3),
        resolution="exchange",
        replacement=[ReplacementAsked(sku=MUG, quantity=1)],
    )
    assert types(returned) == [
        "ReturnRequested",
        "ReturnApproved",
        "BookReturnParcel",
        "ShipReplacement",
    ]
    booked(returned)
    shipped_back(returned, order)
    assert returned.status is ReturnStatus.LABEL_ISSUED  # the goods are still to come back
    assert returned.replacement_state is ReplacementState.SHIPPED
    returned.messages.clear()

    receive(returned, order, (MUG, 1, "damaged"))
    assert status_of(returned) is ReturnStatus.COMPLETED


def test_an_unanswered_replacement_is_asked_again_with_its_order_then_needs_attention() -> None:
    order = delivered()
    returned = exchange(order, [ReplacementAsked(sku=MUG, quantity=1)])
    receive(returned, order, (MUG, 1, "damaged"))
    returned.messages.clear()
    due = returned.deadline_at
    assert due is not None

    assert returned.deadline_passed(due, POLICY, order=order)
    assert types(returned) == ["ShipReplacement"]
    for _ in range(POLICY.max_resends):
        assert returned.deadline_at is not None
        returned.deadline_passed(returned.deadline_at, POLICY, order=order)
    assert status_of(returned) is ReturnStatus.NEEDS_ATTENTION
    returned.messages.clear()
    returned.retry(LATER, POLICY, order)
    assert (status_of(returned), types(returned)) == (ReturnStatus.REPLACING, ["ShipReplacement"])


def test_an_exchange_is_refused_naming_the_field_at_fault() -> None:
    order = delivered()
    cases = [
        ([], "exchange", True, ("replacement",)),
        (
            [ReplacementAsked(sku=BIG_MUG, quantity=1)],
            "exchange",
            True,
            ("replacement", 0, "unit_price"),
        ),
        (
            [ReplacementAsked(sku=MUG, quantity=1, unit_price=eur(1))],
            "exchange",
            False,
            ("replacement", 0, "unit_price"),
        ),
        (
            [ReplacementAsked(sku=BIG_MUG, quantity=1, unit_price=Money(amount=1, currency="USD"))],
            "exchange",
            True,
            ("replacement", 0, "unit_price", "currency"),
        ),
        ([ReplacementAsked(sku=MUG, quantity=1)], "refund", True, ("replacement",)),
    ]
    for replacement, resolution, may_price, loc in cases:
        with pytest.raises(InvalidReturnError) as refused:
            Return.request(
                order,
                return_id=uuid4(),
                return_number="RMA-0000011",
                lines=[StockLine(sku=MUG, quantity=1)],
                reason="damaged",
                reason_text=None,
                requested_by="user-C1",
                in_other_returns={},
                policy=POLICY,
                now=NOW + timedelta(days=3),
                resolution=resolution,  # type: ignore[arg-type]
                replacement=replacement,
                may_price=may_price,
            )
        assert refused.value.loc == loc
