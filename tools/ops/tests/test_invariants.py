"""The invariant checker against real, migrated databases: it passes a consistent world
and names each kind of broken one (so a fault test that relies on it can fail)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from orderly_ops import cli
from orderly_ops.invariants import (
    ANALYTICS_AGREES,
    CASES_WATCHED,
    CLAIM_REFUNDS_AGREE,
    CLAIMS_FOLLOW_ORDERS,
    EVERY_ORDER_TERMINAL,
    EXECUTED_ONCE,
    LEDGER_AGREES,
    MONEY_BALANCES,
    NO_DEAD_LETTERS,
    NOTHING_UNSENT,
    NOTIFIED_ONCE,
    PROVIDER_RECORDED,
    RESERVED_MATCHES,
    RETURN_REFUNDS_AGREE,
    RETURNS_RESTOCKED,
    RETURNS_SETTLED,
    RETURNS_WITHIN_DELIVERED,
    STOCK_CONSERVED,
    STOCK_FOLLOWS_ORDERS,
    STOCK_MATCHES_LEDGER,
    STOCK_NOT_NEGATIVE,
    Databases,
    check,
    ledger_status,
    stock_snapshot,
)
from orderly_payment.domain.ledger import Operation, OperationKind, OperationStatus
from orderly_payment.domain.payments import CardDisplay, Payment
from orderly_schemas.base import Money

NOW = datetime.now(UTC)


def run(url: str, sql: str, **params: Any) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql), params)
    engine.dispose()


class World:
    """A small consistent world: two warehouses of one SKU and a few ended orders."""

    def __init__(self, dbs: Databases) -> None:
        self.dbs = dbs
        run(dbs.inventory, "INSERT INTO warehouses (code, name) VALUES ('east', 'East')")
        run(
            dbs.inventory,
            "INSERT INTO stock_levels (sku, warehouse, on_hand, reserved)"
            " VALUES ('SKU-1', 'east', 0, 0)",
        )
        self.move("opening", 10, on_hand=10)
        self.baseline = stock_snapshot(dbs)

    def move(self, kind: str, quantity: int, *, on_hand: int = 0, reserved: int = 0) -> None:
        """Change SKU-1's level at east as the inventory service does: with a movement."""
        run(
            self.dbs.inventory,
            "UPDATE stock_levels SET on_hand = on_hand + :o, reserved = reserved + :r",
            o=on_hand,
            r=reserved,
        )
        run(
            self.dbs.inventory,
            "INSERT INTO stock_movements (sku, warehouse, kind, quantity, on_hand_delta,"
            " reserved_delta, reason, actor) VALUES ('SKU-1', 'east', :k, :q, :o, :r, 'test',"
            " 'test')",
            k=kind,
            q=quantity,
            o=on_hand,
            r=reserved,
        )

    def order(self, status: str, *, total: int = 500, quantity: int = 2) -> uuid.UUID:
        order_id = uuid.uuid4()
        run(
            self.dbs.order,
            "INSERT INTO orders (order_id, order_number, status, customer_id, customer_email,"
            " customer_name, currency, total_amount, shipping_address, payment_method,"
            " payment_token, placed_at, status_since) VALUES (:id, :n, :s, 'C1', 'a@b.c', 'A',"
            " 'EUR', :t, '{}', 'credit_card', 'tok', :now, :now)",
            id=order_id,
            n=f"ORD-{order_id.hex[:7]}",
            s=status,
            t=total,
            # The time of the insert, not of the module's import: the settle window counts
            # from it, and a long test session must not age these orders out of it.
            now=datetime.now(UTC),
        )
        run(
            self.dbs.order,
            "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_amount,"
            " currency) VALUES (:id, 1, 'SKU-1', :q, :p, 'EUR')",
            id=order_id,
            q=quantity,
            p=total // quantity,
        )
        return order_id

    def reserve(self, order_id: uuid.UUID, quantity: int, status: str) -> None:
        run(
            self.dbs.inventory,
            "INSERT INTO reservations (order_id, sku, warehouse, quantity, status)"
            " VALUES (:id, 'SKU-1', 'east', :q, :s)",
            id=order_id,
            q=quantity,
            s=status,
        )
        self.move("reservation", quantity, reserved=quantity)
        if status == "shipped":
            self.move("shipment", quantity, on_hand=-quantity, reserved=-quantity)
        if status == "released":
            self.move("release", quantity, reserved=-quantity)

    def capture(self, order_id: uuid.UUID, amount: int, *, provider_times: int = 1) -> None:
        """A payment authorized and captured, as its ledger and the provider record it."""
        run(
            self.dbs.payment,
            "INSERT INTO payments (payment_id, order_id, method, provider, amount, currency,"
            " status, authorization_reference, capture_reference) VALUES (:p, :id,"
            " 'credit_card', 'sim-card', :a, 'EUR', 'captured', :au, :ch)",
            p=_payment_id(order_id),
            id=order_id,
            a=amount,
            au=f"au-{order_id}",
            ch=f"ch-{order_id}",
        )
        self.ledger(order_id, "authorize", amount, key=f"authorize:{order_id}")
        key = f"capture:{order_id}"
        self.ledger(order_id, "capture", amount, key=key)
        for n in range(provider_times):
            self.provider(order_id, "capture", amount, key=f"{key}:{n}")

    def refund(
        self,
        order_id: uuid.UUID,
        amount: int,
        *,
        refund_id: str | None = None,
        requested_by: str | None = None,
    ) -> None:
        """A succeeded refund (the saga's, or finance's when ``requested_by``) in one attempt."""
        refund_id = refund_id or f"{order_id}:cancel"
        run(
            self.dbs.payment,
            "INSERT INTO refunds (refund_id, order_id, payment_id, amount, currency, status,"
            " reason, requested_by, attempts) VALUES (:r, :id, :p, :a, 'EUR', 'succeeded',"
            " 'cancelled', :by, 1)",
            r=refund_id,
            id=order_id,
            p=_payment_id(order_id),
            a=amount,
            by=requested_by,
        )
        self.ledger(order_id, "refund", amount, key=f"refund:{refund_id}:1", refund_id=refund_id)
        self.provider(order_id, "refund", amount, key=f"refund:{refund_id}:1")
        # The payment's cached status follows its ledger, as the payment service keeps it.
        run(
            self.dbs.payment,
            "UPDATE payments SET status = CASE WHEN (SELECT SUM(amount) FROM payment_operations"
            " WHERE order_id = :id AND kind = 'refund' AND status = 'succeeded') >= amount"
            " THEN 'refunded' ELSE 'partially_refunded' END WHERE order_id = :id",
            id=order_id,
        )

    def ledger(
        self,
        order_id: uuid.UUID,
        kind: str,
        amount: int,
        *,
        key: str,
        status: str = "succeeded",
        refund_id: str | None = None,
    ) -> None:
        run(
            self.dbs.payment,
            "INSERT INTO payment_operations (idempotency_key, kind, order_id, payment_id,"
            " provider, amount, currency, status, provider_reference, refund_id, attempt,"
            " answered_at) VALUES (:k, :kind, :id, :p, 'sim-card', :a, 'EUR', :s, :k, :r,"
            " :n, :now)",
            k=key,
            kind=kind,
            id=order_id,
            p=_payment_id(order_id),
            a=amount,
            s=status,
            r=refund_id,
            n=1 if refund_id else None,
            now=NOW,
        )

    def provider(self, order_id: uuid.UUID, kind: str, amount: int, *, key: str) -> None:
        run(
            self.dbs.payment,
            "INSERT INTO sim_provider_operations (provider, idempotency_key, kind, order_id,"
            " amount, currency, outcome, reference) VALUES ('sim-card', :k, :kind, :id, :a,"
            " 'EUR', 'succeeded', :k)",
            k=key,
            kind=kind,
            id=order_id,
            a=amount,
        )

    def told(
        self, order_id: uuid.UUID, template: str, *, times: int = 1, subject: str = "s"
    ) -> None:
        for _ in range(times):
            run(
                self.dbs.notification or "",
                "INSERT INTO notifications (notification_id, order_id, event_type, template,"
                " channel, recipient, subject, body, status, source_message_id) VALUES"
                " (:n, :id, 'X', :t, 'log', 'a@b.c', :s, 'b', 'sent', :m)",
                n=uuid.uuid4(),
                id=order_id,
                t=template,
                s=subject,
                m=str(uuid.uuid4()),
            )

    def staged(self, order_id: uuid.UUID, status: str) -> None:
        run(
            self.dbs.analytics or "",
            "INSERT INTO order_stages (order_id, status) VALUES (:id, :s)",
            id=order_id,
            s=status,
        )

    def returned(
        self,
        order_id: uuid.UUID,
        *,
        quantity: int = 1,
        status: str = "completed",
        refund: int | None = 250,
        restocked: bool = True,
        deadline: datetime | None = None,
    ) -> uuid.UUID:
        """A return of ``quantity`` units of the order's SKU-1, received resellable (unless
        it is still ``requested``), restocked at east and refunded ``refund`` under its own
        refund id, as the three services record it."""
        return_id = uuid.uuid4()
        received = None
        if status not in ("requested", "approved", "label_issued"):
            received = [{"sku": "SKU-1", "quantity": quantity, "condition": "resellable"}]
        run(
            self.dbs.order,
            "INSERT INTO returns (return_id, return_number, order_id, order_number, customer_id,"
            " status, reason, resolution, requested_by, requested_at, received, refund_amount,"
            " restocking_fee, currency, refund_id, deadline_at) SELECT :r, :n, order_id,"
            " order_number, customer_id, :s, 'damaged', 'refund', 'C1', now(),"
            " CAST(:received AS jsonb), :a, 0, 'EUR', :rid, :d FROM orders WHERE order_id = :id",
            r=return_id,
            n=f"RMA-{return_id.hex[:7]}",
            s=status,
            received=None if received is None else json.dumps(received),
            a=refund,
            rid=f"return:{return_id}" if refund else None,
            d=deadline,
            id=order_id,
        )
        run(
            self.dbs.order,
            "INSERT INTO return_lines (return_id, line_no, sku, quantity)"
            " VALUES (:r, 1, 'SKU-1', :q)",
            r=return_id,
            q=quantity,
        )
        if received is not None and restocked:
            run(
                self.dbs.inventory,
                "INSERT INTO return_restocks (return_id, order_id, warehouse, lines,"
                " restocked_by, restocked_at) VALUES (:r, :id, 'east', CAST(:l AS jsonb), 't',"
                " now())",
                r=return_id,
                id=order_id,
                l=json.dumps(received),
            )
            self.move("return", quantity, on_hand=quantity)
        if refund and status == "completed":
            self.refund(order_id, refund, refund_id=f"return:{return_id}")
        return return_id

    def replaced(
        self, order_id: uuid.UUID, quantity: int, *, status: str = "shipped", sent: int = 0
    ) -> uuid.UUID:
        """A replacement of ``quantity`` units of SKU-1 for the order, as the inventory
        records it: its stock (``sent`` units, if not all) reserved at east, and shipped
        unless it is still ``picking``."""
        replacement_id = uuid.uuid4()
        taken = sent or quantity
        run(
            self.dbs.inventory,
            "INSERT INTO replacements (replacement_id, order_id, status, lines, reason,"
            " requested_at, updated_at, due_at) VALUES (:r, :id, :s, CAST(:l AS jsonb),"
            " 'claim: lost', now(), now(), now())",
            r=replacement_id,
            id=order_id,
            s=status,
            l=json.dumps([{"sku": "SKU-1", "quantity": quantity}]),
        )
        run(
            self.dbs.inventory,
            "INSERT INTO replacement_reservations (replacement_id, sku, warehouse, quantity,"
            " status) VALUES (:r, 'SKU-1', 'east', :q, :s)",
            r=replacement_id,
            q=taken,
            s="reserved" if status == "picking" else "shipped",
        )
        self.move("reservation", taken, reserved=taken)
        if status != "picking":
            self.move("shipment", taken, on_hand=-taken, reserved=-taken)
        return replacement_id

    def completed(self, *, quantity: int = 2, total: int = 500) -> uuid.UUID:
        order_id = self.order("completed", total=total, quantity=quantity)
        self.reserve(order_id, quantity, "shipped")
        self.capture(order_id, total)
        self.told(order_id, "order_completed")
        self.staged(order_id, "completed")
        return order_id

    def claimed(self, *, status: str = "refunded", refunded: bool = True) -> uuid.UUID:
        """An order whose parcel was lost in transit, settled by a refund claim: the goods
        shipped and never came back, the payment refunded under the claim's refund id."""
        order_id = self.order("cancelled", total=400)
        self.reserve(order_id, 2, "shipped")
        self.capture(order_id, 400)
        claim_id = uuid.uuid4()
        run(
            self.dbs.order,
            "UPDATE orders SET claim_id = :c WHERE order_id = :id",
            c=claim_id,
            id=order_id,
        )
        run(
            self.dbs.order,
            "INSERT INTO claims (claim_id, claim_number, order_id, kind, resolution, status,"
            " opened_by, opened_at) VALUES (:c, :n, :id, 'lost', 'refund', :s, 'agent', now())",
            c=claim_id,
            n=f"CLM-{claim_id.hex[:7]}",
            id=order_id,
            s=status,
        )
        if refunded:
            self.refund(order_id, 400, refund_id=f"claim:{claim_id}")
        self.told(order_id, "order_cancelled")
        self.staged(order_id, "cancelled")
        return order_id

    def cancelled(self, *, total: int = 300) -> uuid.UUID:
        order_id = self.order("cancelled", total=total)
        self.reserve(order_id, 2, "released")
        self.capture(order_id, total)
        self.refund(order_id, total)
        self.told(order_id, "order_cancelled")
        self.staged(order_id, "cancelled")
        return order_id


def _payment_id(order_id: uuid.UUID) -> str:
    return f"pay_{order_id.hex[:20]}"


def broken(dbs: Databases, world: World) -> set[str]:
    report = check(dbs, baseline=world.baseline)
    return {v.invariant for v in report.violations}


def test_a_consistent_world_passes_every_invariant(dbs: Databases) -> None:
    world = World(dbs)
    world.completed()
    world.cancelled()

    report = check(dbs, baseline=world.baseline)

    assert report.ok, report.summary()
    assert len(report.checked) == 21
    assert report.stats["money"] == {
        "net_captured": 500,
        "kept_orders_value": 500,
        "refunded_by_hand": 0,
    }


def test_stock_received_transferred_or_adjusted_through_the_ledger_is_conserved(
    dbs: Databases,
) -> None:
    world = World(dbs)
    world.completed()
    run(dbs.inventory, "INSERT INTO warehouses (code, name) VALUES ('west', 'West')")
    run(dbs.inventory, "INSERT INTO stock_levels (sku, warehouse) VALUES ('SKU-1', 'west')")
    # 5 received at east, 3 of them sent to west of which 1 was lost, 1 counted missing.
    for warehouse, kind, on_hand, in_transit in (
        ("east", "receipt", 5, 0),
        ("east", "transfer_out", -3, 0),
        ("west", "transfer_in_transit", 0, 3),
        ("west", "transfer_in", 2, -3),
        ("east", "adjustment", -1, 0),
    ):
        run(
            dbs.inventory,
            "INSERT INTO stock_movements (sku, warehouse, kind, quantity, on_hand_delta,"
            " in_transit_delta, reason, actor) VALUES ('SKU-1', :w, :k, 1, :o, :t, 'test', 't')",
            w=warehouse,
            k=kind,
            o=on_hand,
            t=in_transit,
        )
        run(
            dbs.inventory,
            "UPDATE stock_levels SET on_hand = on_hand + :o, in_transit = in_transit + :t"
            " WHERE sku = 'SKU-1' AND warehouse = :w",
            w=warehouse,
            o=on_hand,
            t=in_transit,
        )

    assert broken(dbs, world) == set()


Breakage = Callable[[World], None]


def _in_flight(w: World) -> None:
    w.order("reserved")  # awaiting its payment


def _double_capture(w: World) -> None:
    order_id = w.order("completed")
    w.reserve(order_id, 2, "shipped")
    w.capture(order_id, 500, provider_times=2)
    w.told(order_id, "order_completed")
    w.staged(order_id, "completed")


def _refund_kept_by_a_cancelled_order(w: World) -> None:
    order_id = w.order("cancelled", total=300)
    w.reserve(order_id, 2, "released")
    w.capture(order_id, 300)
    w.told(order_id, "order_cancelled")
    w.staged(order_id, "cancelled")


def _stock_vanished(w: World) -> None:
    w.completed()
    run(w.dbs.inventory, "UPDATE stock_levels SET on_hand = on_hand - 1")


def _reserved_without_reservation(w: World) -> None:
    w.completed()
    run(w.dbs.inventory, "UPDATE stock_levels SET reserved = 1")


def _movement_not_applied(w: World) -> None:
    w.completed()
    # A hold the ledger recorded but the level never took (a lost update).
    run(
        w.dbs.inventory,
        "INSERT INTO stock_movements (sku, warehouse, kind, quantity, reserved_delta, reason,"
        " actor) VALUES ('SKU-1', 'east', 'reservation', 3, 3, 'lost update', 'test')",
    )


def _cancelled_but_shipped(w: World) -> None:
    order_id = w.order("cancelled")
    w.reserve(order_id, 2, "shipped")
    w.told(order_id, "order_cancelled")
    w.staged(order_id, "cancelled")


def _unrecorded_provider_charge(w: World) -> None:
    order_id = w.order("rejected")
    w.provider(order_id, "capture", 500, key="capture:orphan")
    w.told(order_id, "order_rejected")
    w.staged(order_id, "rejected")


def _ended(w: World, order_id: uuid.UUID, status: str) -> None:
    """Told and staged as ``status``: only the payment side is left to break."""
    w.told(order_id, f"order_{status}")
    w.staged(order_id, status)


def _completed_with_a_partial_refund_by_hand(w: World) -> None:
    order_id = w.completed()
    w.refund(order_id, 120, refund_id="manual:goodwill-1", requested_by="fin.anna")


def _completed_with_a_partial_refund_by_the_saga(w: World) -> None:
    order_id = w.completed()
    w.refund(order_id, 120, refund_id=f"{order_id}:partial")


def _cached_status_drifted(w: World) -> None:
    order_id = w.completed()
    run(
        w.dbs.payment, "UPDATE payments SET status = 'authorized' WHERE order_id = :id", id=order_id
    )


def _refund_succeeded_without_its_ledger_entry(w: World) -> None:
    order_id = w.completed()
    run(
        w.dbs.payment,
        "INSERT INTO refunds (refund_id, order_id, payment_id, amount, currency, status,"
        " reason, attempts) VALUES ('r-lost', :id, :p, 100, 'EUR', 'succeeded', 'x', 1)",
        id=order_id,
        p=_payment_id(order_id),
    )


def _captured_less_than_the_total(w: World) -> None:
    order_id = w.order("completed", total=500)
    w.reserve(order_id, 2, "shipped")
    w.capture(order_id, 450)
    _ended(w, order_id, "completed")


def _shipped_without_a_capture(w: World) -> None:
    order_id = w.order("shipped")
    w.reserve(order_id, 2, "shipped")


def _missing_check_constraint(w: World) -> None:
    run(
        w.dbs.inventory,
        "ALTER TABLE stock_levels DROP CONSTRAINT ck_stock_levels_on_hand_not_negative",
    )


def _told_twice(w: World) -> None:
    order_id = w.completed()
    w.told(order_id, "order_completed")


def _two_returns_of_one_order_told_once_each(w: World) -> None:
    order_id = w.completed()
    for number in ("RMA-0000001", "RMA-0000002"):
        w.told(order_id, "return_completed", subject=f"Your return {number} is complete")


def _analytics_behind(w: World) -> None:
    order_id = w.order("rejected")
    w.told(order_id, "order_rejected")
    w.staged(order_id, "confirmed")


def _unsent(w: World) -> None:
    run(
        w.dbs.payment,
        "INSERT INTO outbox (topic, message_type, headers, payload) VALUES"
        " ('t', 'X', '{}', 'x'::bytea)",
    )


def _dead_letter(w: World) -> None:
    run(
        w.dbs.order,
        "INSERT INTO inbox (consumer, message_id, topic, outcome) VALUES"
        " ('order', 'm1', 'checkout.orders.v1', 'dead_lettered')",
    )


def _returned_and_refunded(w: World) -> None:
    order_id = w.completed()
    w.returned(order_id, quantity=1, refund=250)
    w.returned(order_id, quantity=1, status="refunding", refund=250, deadline=NOW)
    w.returned(w.completed(), status="label_issued", refund=None, deadline=NOW)


def _returned_more_than_delivered(w: World) -> None:
    order_id = w.completed(quantity=2)
    w.returned(order_id, quantity=2, refund=500)
    w.returned(order_id, quantity=1, status="requested", refund=None)


def _return_refunded_twice(w: World) -> None:
    order_id = w.completed()
    return_id = w.returned(order_id, refund=100)
    w.refund(order_id, 100, refund_id=f"return:{return_id}#2")


def _return_received_but_not_restocked(w: World) -> None:
    w.returned(w.completed(), restocked=False)


def _return_waiting_without_a_deadline(w: World) -> None:
    w.returned(w.completed(), status="label_issued", refund=None)


def _replacement_shipped(w: World) -> None:
    w.replaced(w.completed(), 1, status="delivered")


def _replacement_being_picked(w: World) -> None:
    w.replaced(w.completed(), 1, status="picking")


def _replacement_shipped_short(w: World) -> None:
    w.replaced(w.completed(), 2, sent=1)


@pytest.mark.parametrize(
    ("breakage", "invariants"),
    [
        (_in_flight, {EVERY_ORDER_TERMINAL}),
        (_double_capture, {EXECUTED_ONCE, PROVIDER_RECORDED}),
        (_refund_kept_by_a_cancelled_order, {MONEY_BALANCES, LEDGER_AGREES}),
        # A level changed behind the ledger's back breaks the ledger's invariant too.
        (_stock_vanished, {STOCK_CONSERVED, STOCK_MATCHES_LEDGER}),
        (_reserved_without_reservation, {RESERVED_MATCHES, STOCK_MATCHES_LEDGER}),
        (_movement_not_applied, {STOCK_MATCHES_LEDGER}),
        (_cancelled_but_shipped, {STOCK_FOLLOWS_ORDERS}),
        (_unrecorded_provider_charge, {PROVIDER_RECORDED}),
        # Finance's refunds by hand are finance's decisions; the saga's are not partial.
        (_completed_with_a_partial_refund_by_hand, set()),
        (_completed_with_a_partial_refund_by_the_saga, {MONEY_BALANCES}),
        (_cached_status_drifted, {LEDGER_AGREES}),
        (_refund_succeeded_without_its_ledger_entry, {LEDGER_AGREES}),
        (_captured_less_than_the_total, {MONEY_BALANCES, LEDGER_AGREES}),
        (_shipped_without_a_capture, {EVERY_ORDER_TERMINAL, LEDGER_AGREES}),
        (_missing_check_constraint, {STOCK_NOT_NEGATIVE}),
        (_told_twice, {NOTIFIED_ONCE}),
        (_two_returns_of_one_order_told_once_each, set()),
        (_analytics_behind, {ANALYTICS_AGREES}),
        (_unsent, {NOTHING_UNSENT}),
        (_dead_letter, {NO_DEAD_LETTERS}),
        # A return's refund is neither the saga's nor finance's: the order keeps its payment.
        (_returned_and_refunded, set()),
        (_returned_more_than_delivered, {RETURNS_WITHIN_DELIVERED}),
        (_return_refunded_twice, {RETURN_REFUNDS_AGREE}),
        (_return_received_but_not_restocked, {RETURNS_RESTOCKED}),
        (_return_waiting_without_a_deadline, {RETURNS_SETTLED}),
        # A replacement's stock is held and shipped like the order's, in its own rows.
        (_replacement_shipped, set()),
        (_replacement_being_picked, set()),
        (_replacement_shipped_short, {STOCK_FOLLOWS_ORDERS}),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:] if callable(v) else "",
)
def test_each_kind_of_breakage_is_named(
    dbs: Databases, breakage: Breakage, invariants: set[str]
) -> None:
    world = World(dbs)
    world.completed()
    breakage(world)

    assert broken(dbs, world) == invariants


def test_a_level_that_disagrees_with_its_ledger_is_named_with_each_field(
    dbs: Databases,
) -> None:
    world = World(dbs)
    world.completed()
    _reserved_without_reservation(world)

    report = check(dbs)

    assert [
        (v.subject, v.detail) for v in report.violations if v.invariant == STOCK_MATCHES_LEDGER
    ] == [("SKU-1@east", "reserved 1 but its movements add up to 0")]


def test_settle_leaves_out_what_is_still_moving(dbs: Databases) -> None:
    world = World(dbs)
    world.order("paid")
    _unsent(world)

    report = check(dbs, baseline=world.baseline, settle=timedelta(minutes=5))

    assert report.ok, report.summary()


def test_the_cli_exits_1_with_the_report_and_2_without_databases(
    dbs: Databases, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(dbs)
    world.order("reserved")
    args = [f"--{s}-db={url}" for s, url in dbs.all().items()]

    assert cli.main([*args, "invariants"]) == 1
    assert "FAIL  every order is terminal" in capsys.readouterr().out
    for name in ("ORDER", "INVENTORY", "PAYMENT"):
        monkeypatch.delenv(f"{name}_DATABASE_URL", raising=False)
    assert cli.main(["invariants"]) == 2
    assert "ORDER_DATABASE_URL" in capsys.readouterr().err


def test_the_ledger_check_says_what_disagrees_with_each_refund(dbs: Databases) -> None:
    world = World(dbs)
    _refund_succeeded_without_its_ledger_entry(world)
    pending = world.completed(total=700)
    world.refund(pending, 200, refund_id="manual:k1", requested_by="fin.anna")
    run(
        dbs.payment,
        "UPDATE refunds SET status = 'pending', next_attempt_at = now()"
        " WHERE refund_id = 'manual:k1'",
    )
    rowless = world.completed(total=900)
    world.ledger(rowless, "refund", 900, key="refund:ghost:1", refund_id="ghost")
    world.provider(rowless, "refund", 900, key="refund:ghost:1")

    report = check(dbs)

    assert sorted(v.detail for v in report.violations if v.invariant == LEDGER_AGREES) == [
        "payments.status says captured, its ledger says refunded",
        "refund manual:k1 is pending, but the ledger returned 200 for it",
        "refund r-lost is marked succeeded without a succeeded ledger entry",
        "the ledger returned 900 for refund ghost, which has no refund row",
    ]


@pytest.mark.parametrize(
    "entries",
    [
        [],
        [("authorize", "requested")],
        [("authorize", "pending")],
        [("authorize", "succeeded")],
        [("authorize", "failed")],
        [("authorize", "succeeded"), ("capture", "failed"), ("void", "succeeded")],
        [("authorize", "succeeded"), ("void", "succeeded")],
        [("authorize", "succeeded"), ("capture", "requested")],
        [("authorize", "succeeded"), ("capture", "succeeded")],
        [("authorize", "succeeded"), ("capture", "succeeded"), ("refund", "failed")],
        [("authorize", "succeeded"), ("capture", "succeeded"), ("refund", "succeeded")],
        [
            ("authorize", "succeeded"),
            ("capture", "succeeded"),
            ("refund", "succeeded"),
            ("refund", "succeeded"),
        ],
        [("authorize", "succeeded"), ("capture", "succeeded"), ("charge", "succeeded")],
        [("authorize", "succeeded"), ("capture", "succeeded"), ("charge", "failed")],
        [
            ("authorize", "succeeded"),
            ("capture", "succeeded"),
            ("refund", "succeeded"),
            ("refund", "succeeded"),
            ("refund", "succeeded"),
            ("charge", "succeeded"),
        ],
    ],
)
@pytest.mark.parametrize("voided", [False, True], ids=["", "voided"])
def test_the_ledger_status_is_the_payment_services_own(
    entries: list[tuple[str, str]], voided: bool
) -> None:
    """orderly-ops restates the payment service's rule; both must give the same status."""
    amounts = {"authorize": 1000, "capture": 1000, "void": 1000, "refund": 400, "charge": 300}
    payment = Payment.new(
        order_id=uuid.UUID(int=1),
        method="credit_card",
        provider="sim-card",
        display=CardDisplay(),
        amount=Money(amount=1000, currency="EUR"),
        now=NOW,
    )
    ops = [
        Operation(
            idempotency_key=f"k{n}",
            kind=OperationKind(kind),
            order_id=payment.order_id,
            payment_id=payment.payment_id,
            provider="sim-card",
            amount=Money(amount=amounts[kind], currency="EUR"),
            status=OperationStatus(status),
            provider_reference=None,
            reason=None,
            requested_at=NOW,
            answered_at=None,
        )
        for n, (kind, status) in enumerate(entries)
    ]

    ours = ledger_status(((k, s, amounts[k]) for k, s in entries), voided=voided)

    assert ours == payment.settled(ops, NOW, voided=voided).status.value


def test_a_claim_refunded_in_full_passes_and_one_the_ledger_never_refunded_fails(
    dbs: Databases,
) -> None:
    world = World(dbs)
    world.claimed()
    assert check(dbs, baseline=world.baseline).ok

    world.claimed(refunded=False)
    assert broken(dbs, world) == {CLAIM_REFUNDS_AGREE, MONEY_BALANCES, LEDGER_AGREES}


def test_a_claim_that_does_not_follow_its_order_fails(dbs: Databases) -> None:
    world = World(dbs)
    world.claimed(status="reshipped")
    assert broken(dbs, world) == {CLAIMS_FOLLOW_ORDERS, CLAIM_REFUNDS_AGREE}


def a_case(
    dbs: Databases,
    *,
    status: str = "new",
    first_due: timedelta = timedelta(hours=4),
    answered: bool = False,
    marked: bool = False,
) -> None:
    """A case of support's, opened a day ago, its first response due ``first_due`` from now
    (in the past when negative), its resolution due in two days."""
    first_response_due = NOW + first_due
    pending = [] if answered or marked else [first_response_due]
    if status in ("new", "open"):
        pending.append(NOW + timedelta(days=2))
    run(
        dbs.support or "",
        "INSERT INTO cases (case_id, case_number, category, customer_id, status, opened_by,"
        " opened_by_party, opened_at, updated_at, first_response_due_at, first_responded_at,"
        " first_response_breached_at, resolution_due_at, sla_due_at) VALUES (:id, :n, 'other',"
        " 'C1', :s, 'C1', 'customer', :opened, :opened, :due, :answered, :marked, :resolve,"
        " :sla)",
        id=uuid.uuid4(),
        n=f"CS-{uuid.uuid4().hex[:7]}",
        s=status,
        opened=NOW - timedelta(days=1),
        due=first_response_due,
        answered=NOW if answered else None,
        marked=NOW if marked else None,
        resolve=NOW + timedelta(days=2),
        sla=min(pending, default=None),
    )


def test_open_cases_are_watched_until_each_agreement_is_met_or_marked_missed(
    dbs: Databases,
) -> None:
    world = World(dbs)
    a_case(dbs)  # due later
    a_case(dbs, first_due=-timedelta(hours=1), answered=True, status="open")
    a_case(dbs, first_due=-timedelta(hours=1), marked=True)
    a_case(dbs, first_due=-timedelta(hours=1), status="resolved", answered=True)
    assert check(dbs, baseline=world.baseline).ok

    a_case(dbs, first_due=-timedelta(hours=1))  # due an hour ago, never marked missed
    assert broken(dbs, world) == {CASES_WATCHED}
