"""The suite's invariants, checked across the services' own databases.

Run it after a fault test, or against a live deployment when traffic is quiet
(orders still in flight are reported as not terminal; ``settle`` leaves out
rows younger than that). Each check reads one database in one REPEATABLE READ
transaction; the checks only read.

What it proves, in the words of the fault tests:

- every order is terminal (completed, rejected, cancelled, or needs attention);
- no stock level is below zero (and the CHECK constraints that forbid it exist);
- reserved stock equals the reservations still held (orders' and replacements'), per SKU
  and warehouse;
- every stock level agrees with the stock ledger: its on hand, reserved and in
  transit are the sums of its movements' deltas;
- on hand + in transit + shipped, less what the ledger took in otherwise, is conserved
  per SKU (against a snapshot taken before);
- stock follows each order's outcome: a completed order shipped exactly its lines (plus
  those of its replacements that shipped), a rejected or cancelled one holds and shipped
  nothing;
- captured minus refunded equals the value of the orders that kept their payment,
  order by order and in total (refunds finance made by hand are finance's own
  decisions: a completed order keeps its total net of the saga's refunds only; charges
  after the capture, an exchange's price difference, are the return's as its refund is,
  and an order that ended without its payment got them back too);
- each order's payment ledger agrees with the saga: an order paid for has one
  succeeded capture of its total, a cancelled or rejected one got all of it back,
  the payment's cached status is the one its ledger entries give, and every refund
  marked succeeded has succeeded ledger entries that returned its amount (one, or one per
  capture and charge it drew on; no other refund has any);
- no capture and no refund was executed twice at the provider (no more refunded than
  captured and charged), and every operation the provider executed is recorded by the
  payment service;
- returns hold: no order has more units in its returns than it was delivered; each
  return's refund is what the payment ledger returned under its refund id (never more);
  every return received was restocked once with the goods it records; and every return
  is final, waits for a person (support's decision, needs attention), or waits with a
  deadline;
- each customer was told of each step once, and of how their order ended;
- analytics agrees with how each order ended;
- nothing was left unsent in any outbox, and no dead letter is waiting.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, create_engine, text

TERMINAL = ("completed", "rejected", "cancelled", "needs_attention")
#: How a return's refund is named to the payment service (``return:<id>``, ``#2`` on retry).
RETURN_REFUND = "return:"
#: A return's states: ended, or waiting for a person (support's decision, needs attention).
RETURN_FINAL = ("completed", "rejected", "expired")
RETURN_WAITS_FOR_A_PERSON = ("requested", "needs_attention")
SERVICES = ("order", "inventory", "payment", "notification", "analytics", "support")


def database_urls(env: Mapping[str, str], services: Iterable[str]) -> dict[str, str]:
    """The database URL of each of ``services`` from ``<SERVICE>_DATABASE_URL``.

    Raises ValueError naming every variable that is missing.
    """
    services = list(services)
    missing = [
        f"{s.upper()}_DATABASE_URL" for s in services if not env.get(f"{s.upper()}_DATABASE_URL")
    ]
    if missing:
        raise ValueError("set " + ", ".join(missing) + " (or pass --<service>-db)")
    return {s: env[f"{s.upper()}_DATABASE_URL"] for s in services}


@dataclass(frozen=True)
class Databases:
    """The SQLAlchemy URL of each service's database (notification, analytics and support
    optional; support's cases are checked when it is given)."""

    order: str
    inventory: str
    payment: str
    notification: str | None = None
    analytics: str | None = None
    support: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Databases:
        """The URLs the services themselves use: ``ORDER_DATABASE_URL`` and so on."""
        urls = database_urls(env, ("order", "inventory", "payment"))
        return cls(
            **urls,
            notification=env.get("NOTIFICATION_DATABASE_URL") or None,
            analytics=env.get("ANALYTICS_DATABASE_URL") or None,
            support=env.get("SUPPORT_DATABASE_URL") or None,
        )

    def all(self) -> dict[str, str]:
        return {s: url for s in SERVICES if (url := getattr(self, s)) is not None}


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str
    detail: str


@dataclass
class Report:
    checked: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def fail(self, invariant: str, subject: str, detail: str) -> None:
        self.violations.append(Violation(invariant, subject, detail))

    def summary(self) -> str:
        lines = [f"checked {len(self.checked)} invariants: " + ("all hold" if self.ok else "")]
        for name in self.checked:
            broken = [v for v in self.violations if v.invariant == name]
            lines.append(f"  {'FAIL' if broken else 'ok  '}  {name}")
            for v in broken[:20]:
                lines.append(f"          {v.subject}: {v.detail}")
            if len(broken) > 20:
                lines.append(f"          … and {len(broken) - 20} more")
        return "\n".join(lines)


EVERY_ORDER_TERMINAL = "every order is terminal"
STOCK_NOT_NEGATIVE = "no stock level is below zero"
RESERVED_MATCHES = "reserved stock equals the reservations held"
STOCK_MATCHES_LEDGER = "inventory stock levels agree with the stock ledger"
STOCK_CONSERVED = (
    "on hand + in transit + shipped is conserved per SKU, apart from the ledger's receipts,"
    " returns, adjustments and transfer losses"
)
STOCK_FOLLOWS_ORDERS = "stock follows each order's outcome"
MONEY_BALANCES = "captured minus refunded equals the value of orders that kept their payment"
EXECUTED_ONCE = "no capture or refund was executed twice"
PROVIDER_RECORDED = "every provider operation is recorded by the payment service"
LEDGER_AGREES = "each order's payment ledger agrees with the saga"
#: What ``orderly-ops payments`` checks: the order and payment databases alone.
PAYMENT_INVARIANTS = (MONEY_BALANCES, EXECUTED_ONCE, PROVIDER_RECORDED, LEDGER_AGREES)
RETURNS_WITHIN_DELIVERED = "no order has more units in its returns than were delivered"
RETURN_REFUNDS_AGREE = "each return refunded what the payment ledger returned for it"
RETURNS_RESTOCKED = "every return received was restocked once, with the goods it records"
RETURNS_SETTLED = "every return is final, waits for a person, or waits with a deadline"
RETURN_INVARIANTS = (
    RETURNS_WITHIN_DELIVERED,
    RETURN_REFUNDS_AGREE,
    RETURNS_RESTOCKED,
    RETURNS_SETTLED,
)
CLAIMS_FOLLOW_ORDERS = "every claim is settled, superseded, or where its order stands"
CLAIM_REFUNDS_AGREE = "each claim refunded its order in full, and no other claim refunded"
CLAIM_INVARIANTS = (CLAIMS_FOLLOW_ORDERS, CLAIM_REFUNDS_AGREE)
CLAIM_REFUND = "claim:"
#: Where a claim stands while its order stands somewhere (orderly_order.domain.claims,
#: restated: orderly-ops ships without the services' code).
CLAIM_FOLLOWS = {
    "reshipping": ("reshipping",),
    "reshipped": ("shipped",),
    "delivered": ("delivered", "completed"),
    "refunding": ("cancelling",),
    "refunded": ("cancelled",),
    "needs_attention": ("needs_attention",),
}
CASES_WATCHED = "every open case has its missed agreements marked, none left unwatched"
#: Where a case's agreements are watched (orderly_support.domain.cases, restated): the first
#: response while support owes one, the resolution while its clock runs.
ANSWER_AWAITED = ("new", "open", "waiting_on_customer")
CLOCK_RUNS = ("new", "open")
NOTIFIED_ONCE = "each customer was told of each step once, and of the outcome"
ANALYTICS_AGREES = "analytics agrees with how each order ended"
NOTHING_UNSENT = "nothing is left unsent in an outbox"
NO_DEAD_LETTERS = "no dead letter is waiting"

_STOCK_CHECKS = ("on_hand_not_negative", "reserved_not_negative", "reserved_within_on_hand")


#: Every hold on stock, as rows (sku, warehouse, quantity, status): each order's own, and its
#: replacements' (goods shipped in place of lost or exchanged ones), reserved while they are
#: picked and shipped like an order's.
_RESERVATIONS = (
    "(SELECT sku, warehouse, quantity, status FROM reservations"
    " UNION ALL SELECT sku, warehouse, quantity, status FROM replacement_reservations)"
)


@contextmanager
def _reading(url: str) -> Iterator[Connection]:
    engine = create_engine(url, pool_pre_ping=False)
    try:
        with engine.connect() as conn:
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            yield conn
    finally:
        engine.dispose()


def stock_snapshot(dbs: Databases) -> dict[str, int]:
    """Per SKU, what the conservation check compares: on hand, in transit and everything
    ever shipped, less what came in or went out other than by the saga (opening stock,
    receipts, returns, adjustments, transfer losses: the ledger's other movements)."""
    with _reading(dbs.inventory) as conn:
        return _conserved_quantities(conn)


def _conserved_quantities(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        text(
            "SELECT s.sku, SUM(s.on_hand) + SUM(s.in_transit) + COALESCE(MAX(sh.shipped), 0)"
            "   - COALESCE(MAX(ext.units), 0)"
            " FROM stock_levels s LEFT JOIN ("
            f"   SELECT sku, SUM(quantity) AS shipped FROM {_RESERVATIONS} r"
            "   WHERE status = 'shipped' GROUP BY sku"
            " ) sh ON sh.sku = s.sku LEFT JOIN ("
            "   SELECT sku, SUM(on_hand_delta + in_transit_delta) AS units FROM stock_movements"
            "   WHERE kind NOT IN ('reservation', 'release', 'expiry', 'shipment') GROUP BY sku"
            " ) ext ON ext.sku = s.sku GROUP BY s.sku"
        )
    )
    return {sku: int(total) for sku, total in rows}


def check(
    dbs: Databases,
    *,
    baseline: Mapping[str, int] | None = None,
    since: datetime | None = None,
    settle: timedelta = timedelta(0),
) -> Report:
    """Check every invariant; ``since`` limits the per-order checks to orders placed since.

    ``baseline`` is a :func:`stock_snapshot` taken before the run; without one, the
    conservation check is skipped (and not listed as checked).
    """
    report = Report()
    orders = _orders(dbs.order, since)
    ids = list(orders)
    report.stats["orders_by_status"] = _count_by(o["status"] for o in orders.values())
    _check_terminal(report, orders, settle)
    with _reading(dbs.inventory) as conn:
        _check_stock(report, conn, baseline)
        _check_stock_follows_orders(report, conn, orders, _ordered(dbs, ids))
    with _reading(dbs.payment) as conn:
        _check_payments(report, conn, orders, settle)
    _check_returns(report, dbs, orders, settle)
    _check_claims(report, dbs, orders)
    if dbs.support:
        with _reading(dbs.support) as conn:
            _check_cases(report, conn, settle)
    if dbs.notification:
        with _reading(dbs.notification) as conn:
            _check_notifications(report, conn, orders)
    if dbs.analytics:
        with _reading(dbs.analytics) as conn:
            _check_analytics(report, conn, orders)
    _check_messaging(report, dbs, since, settle)
    return report


def check_payments(
    *,
    order: str,
    payment: str,
    since: datetime | None = None,
    settle: timedelta = timedelta(0),
) -> Report:
    """The payment invariants alone (PAYMENT_INVARIANTS), from the order and payment
    databases (their URLs): each order's ledger against its saga, the money balance, and
    the provider's record against the ledger."""
    report = Report()
    orders = _orders(order, since)
    report.stats["orders_by_status"] = _count_by(o["status"] for o in orders.values())
    with _reading(payment) as conn:
        _check_payments(report, conn, orders, settle)
    return report


# -- orders ---------------------------------------------------------------------------------
def _orders(url: str, since: datetime | None) -> dict[UUID, dict[str, Any]]:
    query = (
        "SELECT order_id, order_number, status, total_amount, currency, status_since, claim_id"
        " FROM orders"
    )
    with _reading(url) as conn:
        if since is None:
            rows = conn.execute(text(query))
        else:
            rows = conn.execute(text(query + " WHERE placed_at >= :since"), {"since": since})
        return {r.order_id: dict(r._mapping) for r in rows}


def _ordered(dbs: Databases, ids: list[UUID]) -> dict[UUID, dict[str, int]]:
    with _reading(dbs.order) as conn:
        rows = conn.execute(
            text(
                "SELECT order_id, sku, SUM(quantity) FROM order_lines"
                " WHERE order_id = ANY(:ids) GROUP BY order_id, sku"
            ),
            {"ids": ids},
        )
        found: dict[UUID, dict[str, int]] = defaultdict(dict)
        for order_id, sku, quantity in rows:
            found[order_id][sku] = int(quantity)
        return found


def _check_terminal(
    report: Report, orders: Mapping[UUID, Mapping[str, Any]], settle: timedelta
) -> None:
    report.checked.append(EVERY_ORDER_TERMINAL)
    cutoff = datetime.now(UTC) - settle
    for o in orders.values():
        if o["status"] not in TERMINAL and o["status_since"] <= cutoff:
            report.fail(
                EVERY_ORDER_TERMINAL,
                o["order_number"],
                f"still {o['status']} since {o['status_since']:%Y-%m-%d %H:%M:%S}",
            )


# -- stock ----------------------------------------------------------------------------------
def _check_stock(report: Report, conn: Connection, baseline: Mapping[str, int] | None) -> None:
    report.checked.append(STOCK_NOT_NEGATIVE)
    present = set(
        conn.scalars(
            text(
                "SELECT conname FROM pg_constraint"
                " WHERE conrelid = 'stock_levels'::regclass AND contype = 'c'"
            )
        )
    )
    for name in _STOCK_CHECKS:
        if not any(c.endswith(name) for c in present):
            report.fail(STOCK_NOT_NEGATIVE, "stock_levels", f"CHECK constraint {name} is missing")
    for sku, warehouse, on_hand, reserved in conn.execute(
        text(
            "SELECT sku, warehouse, on_hand, reserved FROM stock_levels"
            " WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand"
        )
    ):
        report.fail(
            STOCK_NOT_NEGATIVE, f"{sku}@{warehouse}", f"on hand {on_hand}, reserved {reserved}"
        )

    report.checked.append(RESERVED_MATCHES)
    for sku, warehouse, reserved, held in conn.execute(
        text(
            "SELECT s.sku, s.warehouse, s.reserved, COALESCE(r.held, 0) FROM stock_levels s"
            f" LEFT JOIN (SELECT sku, warehouse, SUM(quantity) AS held FROM {_RESERVATIONS} r"
            "            WHERE status = 'reserved' GROUP BY sku, warehouse) r"
            " ON r.sku = s.sku AND r.warehouse = s.warehouse"
            " WHERE s.reserved <> COALESCE(r.held, 0)"
        )
    ):
        report.fail(
            RESERVED_MATCHES,
            f"{sku}@{warehouse}",
            f"level says {reserved} reserved, reservations hold {held}",
        )

    _check_ledger(report, conn)

    if baseline is None:
        return
    report.checked.append(STOCK_CONSERVED)
    now = _conserved_quantities(conn)
    for sku in sorted(set(baseline) | set(now)):
        before, after = baseline.get(sku, 0), now.get(sku, 0)
        if before != after:
            report.fail(
                STOCK_CONSERVED,
                sku,
                f"on hand + in transit + shipped (net of other inflows) was {before}, is {after}",
            )


def _check_ledger(report: Report, conn: Connection) -> None:
    """Each level is the running sum of its movements (what ``inventory reconcile`` checks)."""
    report.checked.append(STOCK_MATCHES_LEDGER)
    for r in conn.execute(
        text(
            "SELECT s.sku, s.warehouse, s.on_hand, s.reserved, s.in_transit,"
            " COALESCE(m.on_hand, 0) AS ledger_on_hand, COALESCE(m.reserved, 0) AS"
            " ledger_reserved, COALESCE(m.in_transit, 0) AS ledger_in_transit"
            " FROM stock_levels s LEFT JOIN ("
            "   SELECT sku, warehouse, SUM(on_hand_delta) AS on_hand,"
            "   SUM(reserved_delta) AS reserved, SUM(in_transit_delta) AS in_transit"
            "   FROM stock_movements GROUP BY sku, warehouse"
            " ) m ON m.sku = s.sku AND m.warehouse = s.warehouse"
            " WHERE (s.on_hand, s.reserved, s.in_transit) IS DISTINCT FROM"
            "   (COALESCE(m.on_hand, 0), COALESCE(m.reserved, 0), COALESCE(m.in_transit, 0))"
            " ORDER BY s.sku, s.warehouse"
        )
    ).mappings():
        differs = [
            f"{field.replace('_', ' ')} {r[field]} but its movements add up to"
            f" {r[f'ledger_{field}']}"
            for field in ("on_hand", "reserved", "in_transit")
            if r[field] != r[f"ledger_{field}"]
        ]
        report.fail(STOCK_MATCHES_LEDGER, f"{r['sku']}@{r['warehouse']}", "; ".join(differs))


def _check_stock_follows_orders(
    report: Report,
    conn: Connection,
    orders: Mapping[UUID, Mapping[str, Any]],
    ordered: Mapping[UUID, Mapping[str, int]],
) -> None:
    report.checked.append(STOCK_FOLLOWS_ORDERS)
    held: dict[UUID, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for order_id, status, sku, quantity in conn.execute(
        text(
            "SELECT order_id, status, sku, SUM(quantity) FROM reservations"
            " WHERE order_id = ANY(:ids) AND status IN ('reserved', 'shipped')"
            " GROUP BY order_id, status, sku"
        ),
        {"ids": list(orders)},
    ):
        held[order_id][status][sku] = int(quantity)
    replaced = _replaced(conn, list(orders))
    for order_id, o in orders.items():
        if o["status"] not in TERMINAL:
            continue
        reserved = held[order_id].get("reserved", {})
        shipped = held[order_id].get("shipped", {})
        who = o["order_number"]
        if o["status"] == "completed":
            # An order whose replacements shipped has shipped its lines plus theirs.
            asked, sent = replaced.get(order_id, ({}, {}))
            shipped_all = _added(shipped, sent)
            if shipped_all != _added(ordered.get(order_id, {}), asked):
                report.fail(
                    STOCK_FOLLOWS_ORDERS, who, f"completed but shipped {shipped_all or 'nothing'}"
                )
        elif o["status"] in ("rejected", "cancelled") and shipped and o["claim_id"] is None:
            # A claim refunds goods lost in transit: they shipped, and never came back.
            report.fail(STOCK_FOLLOWS_ORDERS, who, f"{o['status']} but shipped {shipped}")
        if reserved and o["status"] != "needs_attention":
            report.fail(STOCK_FOLLOWS_ORDERS, who, f"{o['status']} but still holds {reserved}")


def _replaced(
    conn: Connection, ids: list[UUID]
) -> dict[UUID, tuple[dict[str, int], dict[str, int]]]:
    """Per order, what its replacements that left the warehouse asked for and what they
    shipped, per SKU (replacements refused or still being picked shipped nothing)."""
    found: dict[UUID, tuple[dict[str, int], dict[str, int]]] = defaultdict(lambda: ({}, {}))
    for order_id, which, sku, quantity in conn.execute(
        text(
            "SELECT r.order_id, 'asked', l.sku, SUM(l.quantity) FROM replacements r,"
            " jsonb_to_recordset(r.lines) AS l(sku text, quantity int)"
            " WHERE r.order_id = ANY(:ids) AND r.status IN ('shipped', 'delivered', 'failed')"
            " GROUP BY r.order_id, l.sku"
            " UNION ALL SELECT r.order_id, 'sent', s.sku, SUM(s.quantity) FROM replacements r"
            " JOIN replacement_reservations s ON s.replacement_id = r.replacement_id"
            " WHERE r.order_id = ANY(:ids) AND s.status = 'shipped' GROUP BY r.order_id, s.sku"
        ),
        {"ids": ids},
    ):
        found[order_id][0 if which == "asked" else 1][sku] = int(quantity)
    return dict(found)


def _added(*units: Mapping[str, int]) -> dict[str, int]:
    """Units per SKU, added up."""
    total: dict[str, int] = defaultdict(int)
    for each in units:
        for sku, n in each.items():
            total[sku] += n
    return dict(total)


# -- money ----------------------------------------------------------------------------------
#: Where the saga has moved on past the capture: the order was paid for.
PAID_FOR = ("paid", "shipped", "delivered", "completed")
#: Where the saga gave the payment back (or never took it).
UNPAID = ("rejected", "cancelled")


@dataclass
class Ledger:
    """One order's payment as its ledger has it: succeeded operations, in minor units."""

    payment_status: str | None = None  # the cached payments.status; None without a payment
    currency: str | None = None
    voided: bool = False  # a refund found nothing captured: no capture may happen
    entries: list[tuple[str, str, int]] = field(default_factory=list)  # kind, status, amount
    captures: int = 0
    captured: int = 0
    charges: int = 0  # succeeded charges after the capture (an exchange's price difference)
    charged: int = 0
    refunds: int = 0  # succeeded refund attempts, whoever asked
    refunded: int = 0
    refunded_by_hand: int = 0  # of ``refunded``: refunds finance asked for (requested_by set)
    refunded_by_returns: int = 0  # of ``refunded``: refunds of returns (``return:<id>``)

    @property
    def refunded_by_saga(self) -> int:
        return self.refunded - self.refunded_by_hand - self.refunded_by_returns


def ledger_status(entries: Iterable[tuple[str, str, int]], *, voided: bool = False) -> str:
    """A payment's status from its ledger entries (kind, status, amount), and whether the
    order's payment was voided.

    The rule of ``orderly_payment.domain.payments.Payment.settled``, restated because
    orderly-ops ships in every image without the services' code; a test holds the two
    to the same answers.
    """
    status = _status_of_entries(list(entries))
    if voided and status in ("not_paid", "authorized"):
        return "voided"  # cancelled before capture, with no hold (or none released)
    return status


def _status_of_entries(entries: list[tuple[str, str, int]]) -> str:
    succeeded = [(kind, amount) for kind, status, amount in entries if status == "succeeded"]
    captured = sum(amount for kind, amount in succeeded if kind in ("capture", "charge"))
    if captured:
        refunded = sum(amount for kind, amount in succeeded if kind == "refund")
        if refunded == 0:
            return "captured"
        return "refunded" if refunded >= captured else "partially_refunded"
    if any(kind in ("authorize", "capture") and status == "failed" for kind, status, _ in entries):
        return "failed"
    if any(kind == "void" for kind, _ in succeeded):
        return "voided"
    if any(kind == "authorize" for kind, _ in succeeded):
        return "authorized"
    return "not_paid"


def _ledgers(conn: Connection, ids: list[UUID]) -> dict[UUID, Ledger]:
    found: dict[UUID, Ledger] = defaultdict(Ledger)
    for r in conn.execute(
        text("SELECT order_id, status, currency FROM payments WHERE order_id = ANY(:ids)"),
        {"ids": ids},
    ):
        found[r.order_id].payment_status, found[r.order_id].currency = r.status, r.currency
    for order_id in conn.scalars(
        text("SELECT DISTINCT order_id FROM payment_voids WHERE order_id = ANY(:ids)"),
        {"ids": ids},
    ):
        if order_id in found:
            found[order_id].voided = True
    for r in conn.execute(
        text(
            "SELECT o.order_id, o.kind, o.status, o.amount, o.refund_id, r.requested_by"
            " FROM payment_operations o LEFT JOIN refunds r ON r.refund_id = o.refund_id"
            " WHERE o.order_id = ANY(:ids) ORDER BY o.id"
        ),
        {"ids": ids},
    ):
        ledger = found[r.order_id]
        amount = int(r.amount)
        ledger.entries.append((r.kind, r.status, amount))
        if r.status != "succeeded":
            continue
        if r.kind == "capture":
            ledger.captures += 1
            ledger.captured += amount
        elif r.kind == "charge":
            ledger.charges += 1
            ledger.charged += amount
        elif r.kind == "refund":
            ledger.refunds += 1
            ledger.refunded += amount
            if r.requested_by is not None:
                ledger.refunded_by_hand += amount
            elif (r.refund_id or "").startswith(RETURN_REFUND):
                ledger.refunded_by_returns += amount
    return dict(found)


def _check_payments(
    report: Report, conn: Connection, orders: Mapping[UUID, Mapping[str, Any]], settle: timedelta
) -> None:
    ledgers = _ledgers(conn, list(orders))
    _check_money(report, conn, orders, ledgers)
    _check_ledger_agrees(report, conn, orders, ledgers, settle)


def _check_money(
    report: Report,
    conn: Connection,
    orders: Mapping[UUID, Mapping[str, Any]],
    ledgers: Mapping[UUID, Ledger],
) -> None:
    ids = {"ids": list(orders)}
    provider_captures = _sums(
        conn,
        "SELECT order_id, COUNT(*), SUM(amount) FROM sim_provider_operations"
        " WHERE kind = 'capture' AND outcome = 'succeeded' AND order_id = ANY(:ids)"
        " GROUP BY order_id",
        ids,
    )
    provider_refunds = _sums(
        conn,
        "SELECT order_id, COUNT(*), SUM(amount) FROM sim_provider_operations"
        " WHERE kind = 'refund' AND outcome = 'succeeded' AND order_id = ANY(:ids)"
        " GROUP BY order_id",
        ids,
    )
    provider_charges = _sums(
        conn,
        "SELECT order_id, COUNT(*), SUM(amount) FROM sim_provider_operations"
        " WHERE kind = 'charge' AND outcome = 'succeeded' AND order_id = ANY(:ids)"
        " GROUP BY order_id",
        ids,
    )

    report.checked.append(MONEY_BALANCES)
    kept_value = net_total = by_hand = 0
    for order_id, o in orders.items():
        if o["status"] not in TERMINAL:
            continue
        ledger = ledgers.get(order_id, Ledger())
        total, who, status = int(o["total_amount"]), o["order_number"], o["status"]
        by_hand += ledger.refunded_by_hand
        # A refund finance made by hand (goodwill, a part sent back) is finance's decision
        # about an order the saga completed: such an order kept its payment if the saga's
        # own refunds left its total. An order that ended without its payment must have had
        # all of it back, however it was returned.
        kept = ledger.captured - ledger.refunded_by_saga
        returned = ledger.captured + ledger.charged - ledger.refunded
        if status == "completed":
            net, ok, expected = kept, kept == total, f"{total}"
        elif status in UNPAID:
            net, ok, expected = returned, returned == 0, "0"
        else:  # needs attention: a refund outstanding (kept), or settled (by hand, say)
            net = kept if kept == total else returned
            ok, expected = net in (0, total), f"{total} or 0"
        if not ok:
            of = "the saga's refunds" if status == "completed" else "refunds"
            by_hand_note = (
                f", {ledger.refunded_by_hand} more refunded by hand"
                if ledger.refunded_by_hand and status == "completed"
                else ""
            )
            report.fail(
                MONEY_BALANCES,
                who,
                f"{status} with {net} captured net of {of}{by_hand_note}; expected {expected}"
                f" ({o['currency']} minor units)",
            )
        if net == total and status in ("completed", "needs_attention"):
            kept_value += total
        net_total += net
    if net_total != kept_value:
        report.fail(
            MONEY_BALANCES,
            "all orders",
            f"captured net of refunds is {net_total} (refunds by hand of kept orders left"
            f" out), kept orders are worth {kept_value}",
        )
    report.stats["money"] = {
        "net_captured": net_total,
        "kept_orders_value": kept_value,
        "refunded_by_hand": by_hand,
    }

    report.checked.append(EXECUTED_ONCE)
    for order_id, (count, amount) in provider_captures.items():
        if count > 1:
            report.fail(EXECUTED_ONCE, _name(orders, order_id), f"{count} captures ({amount})")
    for order_id, (count, amount) in provider_refunds.items():
        charged = provider_captures.get(order_id, (0, 0))[1]
        charged += provider_charges.get(order_id, (0, 0))[1]
        if amount > charged:
            report.fail(
                EXECUTED_ONCE,
                _name(orders, order_id),
                f"{count} refunds returned {amount}, more than the {charged} captured",
            )

    report.checked.append(PROVIDER_RECORDED)
    captured = {i: (x.captures, x.captured) for i, x in ledgers.items() if x.captures}
    refunded = {i: (x.refunds, x.refunded) for i, x in ledgers.items() if x.refunds}
    charges = {i: (x.charges, x.charged) for i, x in ledgers.items() if x.charges}
    for label, provider, ours in (
        ("captured", provider_captures, captured),
        ("refunded", provider_refunds, refunded),
        ("charged", provider_charges, charges),
    ):
        for order_id in set(provider) | set(ours):
            theirs, mine = provider.get(order_id, (0, 0)), ours.get(order_id, (0, 0))
            if theirs != mine:
                report.fail(
                    PROVIDER_RECORDED,
                    _name(orders, order_id),
                    f"provider {label} {theirs[1]} in {theirs[0]} operation(s);"
                    f" the payment ledger recorded {mine[1]} in {mine[0]}",
                )


def _check_ledger_agrees(
    report: Report,
    conn: Connection,
    orders: Mapping[UUID, Mapping[str, Any]],
    ledgers: Mapping[UUID, Ledger],
    settle: timedelta,
) -> None:
    """Each order's payment ledger against the saga's view of the order."""
    report.checked.append(LEDGER_AGREES)
    cutoff = datetime.now(UTC) - settle
    refund_problems = _refund_problems(conn, list(orders))
    for order_id, o in orders.items():
        if o["status_since"] > cutoff:
            continue
        status, total = o["status"], int(o["total_amount"])
        ledger = ledgers.get(order_id)
        problems: list[str] = []
        if ledger is None or ledger.payment_status is None:
            if status in PAID_FOR:
                problems.append(f"{status} but no payment was ever attempted")
        else:
            if ledger.currency != o["currency"]:
                problems.append(f"paid in {ledger.currency}, the order is in {o['currency']}")
            if status in PAID_FOR and not ledger.captures:
                problems.append(f"{status} but its ledger holds no succeeded capture")
            if ledger.captures and (ledger.captures, ledger.captured) != (1, total):
                problems.append(
                    f"captured {ledger.captured} in {ledger.captures} operation(s); the order's"
                    f" total is {total}"
                )
            taken = ledger.captured + ledger.charged
            if status in UNPAID and taken != ledger.refunded:
                problems.append(f"{status} with {taken - ledger.refunded} captured net of refunds")
            if ledger.refunded > taken:
                problems.append(
                    f"refunded {ledger.refunded}, more than the {taken} captured and charged"
                )
            derived = ledger_status(ledger.entries, voided=ledger.voided)
            if ledger.payment_status != derived:
                problems.append(
                    f"payments.status says {ledger.payment_status}, its ledger says {derived}"
                )
        problems += refund_problems.get(order_id, [])
        for problem in problems:
            report.fail(LEDGER_AGREES, o["order_number"], problem)


def _refund_problems(conn: Connection, ids: list[UUID]) -> dict[UUID, list[str]]:
    """Per order, each refund whose status disagrees with its succeeded ledger entries."""
    found: dict[UUID, list[str]] = defaultdict(list)
    for r in conn.execute(
        text(
            "SELECT COALESCE(r.order_id, o.order_id) AS order_id,"
            " COALESCE(r.refund_id, o.refund_id) AS refund_id, r.status, r.amount,"
            " COUNT(o.refund_id) AS succeeded, COALESCE(SUM(o.amount), 0) AS returned"
            " FROM refunds r FULL JOIN ("
            "   SELECT order_id, refund_id, amount FROM payment_operations"
            "   WHERE kind = 'refund' AND status = 'succeeded'"
            " ) o ON o.refund_id = r.refund_id"
            " WHERE COALESCE(r.order_id, o.order_id) = ANY(:ids)"
            " GROUP BY 1, 2, 3, 4 ORDER BY 2"
        ),
        {"ids": ids},
    ):
        refund, succeeded, returned = r.refund_id, int(r.succeeded), int(r.returned)
        if r.status is None:
            found[r.order_id].append(
                f"the ledger returned {returned} for refund {refund}, which has no refund row"
            )
        elif r.status == "succeeded" and succeeded == 0:
            found[r.order_id].append(
                f"refund {refund} is marked succeeded without a succeeded ledger entry"
            )
        elif r.status != "succeeded" and succeeded:
            found[r.order_id].append(
                f"refund {refund} is {r.status}, but the ledger returned {returned} for it"
            )
        elif succeeded and returned != int(r.amount):
            found[r.order_id].append(
                f"refund {refund} of {r.amount} returned {returned} in {succeeded} ledger entries"
            )
    return dict(found)


def _sums(conn: Connection, query: str, params: dict[str, Any]) -> dict[UUID, tuple[int, int]]:
    return {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(text(query), params)}


def _name(orders: Mapping[UUID, Mapping[str, Any]], order_id: UUID) -> str:
    found = orders.get(order_id)
    return str(found["order_number"]) if found else str(order_id)


# -- returns --------------------------------------------------------------------------------
def _check_returns(
    report: Report, dbs: Databases, orders: Mapping[UUID, Mapping[str, Any]], settle: timedelta
) -> None:
    report.checked += list(RETURN_INVARIANTS)
    ids = {"ids": list(orders)}
    with _reading(dbs.order) as conn:
        returns = {
            r.return_id: r
            for r in conn.execute(
                text(
                    "SELECT return_id, return_number, order_id, status, received,"
                    " refund_amount, deadline_at, updated_at FROM returns"
                    " WHERE order_id = ANY(:ids)"
                ),
                ids,
            )
        }
        in_returns = conn.execute(
            text(
                "SELECT r.order_id, l.sku, SUM(l.quantity) FROM returns r"
                " JOIN return_lines l ON l.return_id = r.return_id"
                " WHERE r.order_id = ANY(:ids) AND r.status <> 'rejected'"
                " GROUP BY r.order_id, l.sku"
            ),
            ids,
        ).all()
    ordered = _ordered(dbs, list(orders))
    for order_id, sku, units in in_returns:
        delivered = ordered.get(order_id, {}).get(sku, 0)
        if units > delivered:
            report.fail(
                RETURNS_WITHIN_DELIVERED,
                _name(orders, order_id),
                f"{units} unit(s) of {sku} in returns, {delivered} ordered",
            )

    with _reading(dbs.payment) as conn:
        refunded: dict[UUID, int] = defaultdict(int)
        for refund_id, amount in conn.execute(
            text(
                "SELECT refund_id, amount FROM payment_operations WHERE kind = 'refund'"
                " AND status = 'succeeded' AND order_id = ANY(:ids) AND refund_id LIKE :prefix"
            ),
            {**ids, "prefix": f"{RETURN_REFUND}%"},
        ):
            return_id = UUID(refund_id.removeprefix(RETURN_REFUND).partition("#")[0])
            refunded[return_id] += int(amount)
    for return_id, r in returns.items():
        due, got = int(r.refund_amount or 0), refunded.pop(return_id, 0)
        if got > due or (r.status == "completed" and got != due):
            report.fail(
                RETURN_REFUNDS_AGREE,
                r.return_number,
                f"{r.status}, refunds {due}; the payment ledger returned {got} for it",
            )
    for return_id, got in refunded.items():
        report.fail(RETURN_REFUNDS_AGREE, str(return_id), f"{got} refunded for no known return")

    with _reading(dbs.inventory) as conn:
        restocks = {
            r.return_id: r.lines
            for r in conn.execute(
                text("SELECT return_id, lines FROM return_restocks WHERE order_id = ANY(:ids)"),
                ids,
            )
        }
    for return_id, r in returns.items():
        if r.received is None:
            continue
        restocked = restocks.get(return_id)
        if restocked is None:
            report.fail(RETURNS_RESTOCKED, r.return_number, "received, but never restocked")
        elif _goods(restocked) != _goods(r.received):
            report.fail(
                RETURNS_RESTOCKED,
                r.return_number,
                f"received {_goods(r.received)}, inventory restocked {_goods(restocked)}",
            )

    cutoff = datetime.now(UTC) - settle
    for r in returns.values():
        waits = r.status not in RETURN_FINAL + RETURN_WAITS_FOR_A_PERSON
        if waits and r.deadline_at is None and r.updated_at <= cutoff:
            report.fail(RETURNS_SETTLED, r.return_number, f"{r.status} with no deadline")
    report.stats["returns_by_status"] = _count_by(r.status for r in returns.values())


def _check_claims(report: Report, dbs: Databases, orders: Mapping[UUID, Mapping[str, Any]]) -> None:
    report.checked += list(CLAIM_INVARIANTS)
    ids = {"ids": list(orders)}
    with _reading(dbs.order) as conn:
        claims = conn.execute(
            text(
                "SELECT claim_id, claim_number, order_id, status FROM claims"
                " WHERE order_id = ANY(:ids)"
            ),
            ids,
        ).all()
    with _reading(dbs.payment) as conn:
        refunded: dict[UUID, int] = defaultdict(int)
        for refund_id, amount in conn.execute(
            text(
                "SELECT refund_id, amount FROM payment_operations WHERE kind = 'refund'"
                " AND status = 'succeeded' AND order_id = ANY(:ids) AND refund_id LIKE :prefix"
            ),
            {**ids, "prefix": f"{CLAIM_REFUND}%"},
        ):
            claim_id = UUID(refund_id.removeprefix(CLAIM_REFUND).partition("#")[0])
            refunded[claim_id] += int(amount)
    for c in claims:
        order = orders[c.order_id]
        if c.status != "superseded" and order["status"] not in CLAIM_FOLLOWS.get(c.status, ()):
            report.fail(
                CLAIMS_FOLLOW_ORDERS, c.claim_number, f"{c.status}, its order {order['status']}"
            )
        got = refunded.pop(c.claim_id, 0)
        if (c.status == "refunded" and got != order["total_amount"]) or (
            c.status in ("reshipping", "reshipped", "delivered") and got
        ):
            report.fail(
                CLAIM_REFUNDS_AGREE,
                c.claim_number,
                f"{c.status}; the payment ledger refunded {got} of {order['total_amount']}",
            )
    for claim_id, got in refunded.items():
        report.fail(CLAIM_REFUNDS_AGREE, str(claim_id), f"{got} refunded for no known claim")
    report.stats["claims_by_status"] = _count_by(c.status for c in claims)


def _check_cases(report: Report, conn: Connection, settle: timedelta) -> None:
    """A case waits for support or the customer, but never unwatched: an agreement whose due
    time passed (by more than ``settle``) was met or is marked missed (the breach job's
    work), and a case with an agreement pending keeps the due time the job looks for."""
    report.checked.append(CASES_WATCHED)
    cutoff = datetime.now(UTC) - settle
    rows = conn.execute(
        text(
            "SELECT case_number, status, first_response_due_at, first_responded_at,"
            " first_response_breached_at, resolution_due_at, resolution_paused_since,"
            " resolved_at, resolution_breached_at, sla_due_at FROM cases"
            " WHERE status <> 'closed'"
        )
    ).all()
    for c in rows:
        first_open = (
            c.status in ANSWER_AWAITED
            and c.first_responded_at is None
            and c.first_response_breached_at is None
        )
        if first_open and c.first_response_due_at <= cutoff:
            report.fail(
                CASES_WATCHED,
                c.case_number,
                f"first response due {c.first_response_due_at:%Y-%m-%d %H:%M:%S}, neither"
                " given nor marked missed",
            )
        running = c.status in CLOCK_RUNS and c.resolution_breached_at is None
        if running and c.resolution_due_at <= cutoff:
            report.fail(
                CASES_WATCHED,
                c.case_number,
                f"resolution due {c.resolution_due_at:%Y-%m-%d %H:%M:%S}, neither reached nor"
                " marked missed",
            )
        if (first_open or running) and c.sla_due_at is None:
            report.fail(CASES_WATCHED, c.case_number, f"{c.status} with no agreement watched")
    report.stats["open_cases_by_status"] = _count_by(c.status for c in rows)


def _goods(lines: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, int]]:
    found: dict[tuple[str, str], int] = defaultdict(int)
    for line in lines:
        found[(line["sku"], line["condition"])] += int(line["quantity"])
    return sorted((sku, condition, n) for (sku, condition), n in found.items())


# -- read models ----------------------------------------------------------------------------
#: The customer message and the analytics stage that each way of ending leaves behind.
_ENDINGS = {"completed": "completed", "rejected": "rejected", "cancelled": "cancelled"}


def _check_notifications(
    report: Report, conn: Connection, orders: Mapping[UUID, Mapping[str, Any]]
) -> None:
    report.checked.append(NOTIFIED_ONCE)
    # By subject too: an order's returns are told with the same templates, each naming
    # its return in the subject.
    sent: dict[UUID, dict[str, int]] = defaultdict(dict)
    twice: dict[UUID, list[str]] = defaultdict(list)
    for order_id, template, subject, count in conn.execute(
        text(
            "SELECT order_id, template, subject, COUNT(*) FROM notifications"
            " WHERE order_id = ANY(:ids) GROUP BY order_id, template, subject"
        ),
        {"ids": list(orders)},
    ):
        sent[order_id][template] = sent[order_id].get(template, 0) + int(count)
        if count > 1:
            twice[order_id].append(f"{template} ({subject}) sent {count} times")
    for order_id, o in orders.items():
        for problem in twice[order_id]:
            report.fail(NOTIFIED_ONCE, o["order_number"], problem)
        ending = _ENDINGS.get(o["status"])
        if ending and f"order_{ending}" not in sent[order_id]:
            report.fail(NOTIFIED_ONCE, o["order_number"], f"{ending} but never told so")


def _check_analytics(
    report: Report, conn: Connection, orders: Mapping[UUID, Mapping[str, Any]]
) -> None:
    report.checked.append(ANALYTICS_AGREES)
    rows = conn.execute(
        text("SELECT order_id, status FROM order_stages WHERE order_id = ANY(:ids)"),
        {"ids": list(orders)},
    )
    stages: dict[UUID, str] = {r.order_id: r.status for r in rows}
    for order_id, o in orders.items():
        ending = _ENDINGS.get(o["status"])
        if ending and stages.get(order_id) != ending:
            report.fail(
                ANALYTICS_AGREES,
                o["order_number"],
                f"{o['status']}, analytics says {stages.get(order_id, 'nothing')}",
            )


# -- messaging ------------------------------------------------------------------------------
def _check_messaging(
    report: Report, dbs: Databases, since: datetime | None, settle: timedelta
) -> None:
    report.checked += [NOTHING_UNSENT, NO_DEAD_LETTERS]
    waiting: dict[str, int] = {}
    for service, url in dbs.all().items():
        with _reading(url) as conn:
            unsent = conn.scalar(
                text(
                    "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL"
                    " AND created_at < now() - make_interval(secs => :settle)"
                ),
                {"settle": settle.total_seconds()},
            )
            if unsent:
                report.fail(NOTHING_UNSENT, service, f"{unsent} outbox row(s) not yet sent")
            query = "SELECT topic, COUNT(*) FROM inbox WHERE outcome = 'dead_lettered'"
            params: dict[str, Any] = {}
            if since is not None:
                query += " AND processed_at >= :since"
                params["since"] = since
            for topic, count in conn.execute(text(query + " GROUP BY topic"), params):
                waiting[f"{service}:{topic}"] = int(count)
                report.fail(NO_DEAD_LETTERS, f"{service} on {topic}", f"{count} waiting")
    report.stats["dead_letters_waiting"] = waiting


def _count_by(values: Iterator[str] | Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for v in values:
        counts[v] += 1
    return dict(sorted(counts.items()))
