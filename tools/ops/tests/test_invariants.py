"""The invariant checker against real, migrated databases: it passes a consistent world
and names each kind of broken one (so a fault test that relies on it can fail)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from orderly_analytics.bootstrap import MIGRATIONS as ANALYTICS
from orderly_dev.servers import Servers
from orderly_inventory.bootstrap import MIGRATIONS as INVENTORY
from orderly_kit import migrations
from orderly_notification.bootstrap import MIGRATIONS as NOTIFICATION
from orderly_ops import cli
from orderly_ops.invariants import (
    ANALYTICS_AGREES,
    EVERY_ORDER_TERMINAL,
    EXECUTED_ONCE,
    MONEY_BALANCES,
    NO_DEAD_LETTERS,
    NOTHING_UNSENT,
    NOTIFIED_ONCE,
    PROVIDER_RECORDED,
    RESERVED_MATCHES,
    STOCK_CONSERVED,
    STOCK_FOLLOWS_ORDERS,
    STOCK_MATCHES_LEDGER,
    STOCK_NOT_NEGATIVE,
    Databases,
    check,
    stock_snapshot,
)
from orderly_order.bootstrap import MIGRATIONS as ORDER
from orderly_payment.bootstrap import MIGRATIONS as PAYMENT

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def template(servers: Servers) -> dict[str, str]:
    """One migrated database per service, copied for each test (migrating is slow)."""
    names: dict[str, str] = {}
    for service, where in (
        ("order", ORDER),
        ("inventory", INVENTORY),
        ("payment", PAYMENT),
        ("notification", NOTIFICATION),
        ("analytics", ANALYTICS),
    ):
        name = f"tpl_{service}_{uuid.uuid4().hex[:6]}"
        servers.postgres.create_database(name)
        migrations.upgrade(where, servers.postgres.url(name))
        names[service] = name
    return names


@pytest.fixture
def dbs(servers: Servers, template: dict[str, str]) -> Databases:
    admin = create_engine(servers.postgres.url("postgres"), isolation_level="AUTOCOMMIT")
    urls: dict[str, str] = {}
    with admin.connect() as conn:
        for service, name in template.items():
            copy = f"t_{service}_{uuid.uuid4().hex[:8]}"
            conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"'))
            urls[service] = servers.postgres.url(copy)
    admin.dispose()
    return Databases(**urls)


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
            now=NOW,
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
        key = f"capture:{order_id}"
        run(
            self.dbs.payment,
            "INSERT INTO payments (payment_id, order_id, method, amount, currency, status,"
            " provider_reference, idempotency_key) VALUES (:p, :id, 'credit_card', :a, 'EUR',"
            " 'captured', :r, :k)",
            p=f"pay_{order_id.hex[:20]}",
            id=order_id,
            a=amount,
            r=f"ref-{order_id}",
            k=key,
        )
        for n in range(provider_times):
            self.provider(order_id, "capture", amount, key=f"{key}:{n}")

    def refund(self, order_id: uuid.UUID, amount: int) -> None:
        run(
            self.dbs.payment,
            "INSERT INTO refunds (refund_id, order_id, payment_id, amount, currency, status,"
            " reason) VALUES (:r, :id, :p, :a, 'EUR', 'succeeded', 'cancelled')",
            r=f"{order_id}:cancel",
            id=order_id,
            p=f"pay_{order_id.hex[:20]}",
            a=amount,
        )
        self.provider(order_id, "refund", amount, key=f"refund:{order_id}")

    def provider(self, order_id: uuid.UUID, kind: str, amount: int, *, key: str) -> None:
        run(
            self.dbs.payment,
            "INSERT INTO sim_provider_operations (idempotency_key, kind, order_id, amount,"
            " currency, outcome, reference) VALUES (:k, :kind, :id, :a, 'EUR', 'succeeded', :k)",
            k=key,
            kind=kind,
            id=order_id,
            a=amount,
        )

    def told(self, order_id: uuid.UUID, template: str, *, times: int = 1) -> None:
        for _ in range(times):
            run(
                self.dbs.notification or "",
                "INSERT INTO notifications (notification_id, order_id, event_type, template,"
                " channel, recipient, subject, body, status, source_message_id) VALUES"
                " (:n, :id, 'X', :t, 'log', 'a@b.c', 's', 'b', 'sent', :m)",
                n=uuid.uuid4(),
                id=order_id,
                t=template,
                m=str(uuid.uuid4()),
            )

    def staged(self, order_id: uuid.UUID, status: str) -> None:
        run(
            self.dbs.analytics or "",
            "INSERT INTO order_stages (order_id, status) VALUES (:id, :s)",
            id=order_id,
            s=status,
        )

    def completed(self, *, quantity: int = 2, total: int = 500) -> uuid.UUID:
        order_id = self.order("completed", total=total, quantity=quantity)
        self.reserve(order_id, quantity, "shipped")
        self.capture(order_id, total)
        self.told(order_id, "order_completed")
        self.staged(order_id, "completed")
        return order_id

    def cancelled(self, *, total: int = 300) -> uuid.UUID:
        order_id = self.order("cancelled", total=total)
        self.reserve(order_id, 2, "released")
        self.capture(order_id, total)
        self.refund(order_id, total)
        self.told(order_id, "order_cancelled")
        self.staged(order_id, "cancelled")
        return order_id


def broken(dbs: Databases, world: World) -> set[str]:
    report = check(dbs, baseline=world.baseline)
    return {v.invariant for v in report.violations}


def test_a_consistent_world_passes_every_invariant(dbs: Databases) -> None:
    world = World(dbs)
    world.completed()
    world.cancelled()

    report = check(dbs, baseline=world.baseline)

    assert report.ok, report.summary()
    assert len(report.checked) == 13
    assert report.stats["money"] == {"net_captured": 500, "kept_orders_value": 500}


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
    w.order("paid")


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


def _missing_check_constraint(w: World) -> None:
    run(
        w.dbs.inventory,
        "ALTER TABLE stock_levels DROP CONSTRAINT ck_stock_levels_on_hand_not_negative",
    )


def _told_twice(w: World) -> None:
    order_id = w.completed()
    w.told(order_id, "order_completed")


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


@pytest.mark.parametrize(
    ("breakage", "invariants"),
    [
        (_in_flight, {EVERY_ORDER_TERMINAL}),
        (_double_capture, {EXECUTED_ONCE, PROVIDER_RECORDED}),
        (_refund_kept_by_a_cancelled_order, {MONEY_BALANCES}),
        # A level changed behind the ledger's back breaks the ledger's invariant too.
        (_stock_vanished, {STOCK_CONSERVED, STOCK_MATCHES_LEDGER}),
        (_reserved_without_reservation, {RESERVED_MATCHES, STOCK_MATCHES_LEDGER}),
        (_movement_not_applied, {STOCK_MATCHES_LEDGER}),
        (_cancelled_but_shipped, {STOCK_FOLLOWS_ORDERS}),
        (_unrecorded_provider_charge, {PROVIDER_RECORDED}),
        (_missing_check_constraint, {STOCK_NOT_NEGATIVE}),
        (_told_twice, {NOTIFIED_ONCE}),
        (_analytics_behind, {ANALYTICS_AGREES}),
        (_unsent, {NOTHING_UNSENT}),
        (_dead_letter, {NO_DEAD_LETTERS}),
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
