"""``orderly-ops payments`` against ledgers written by the payment service's own handlers.

Payments are made, refunded by the saga and refunded by hand through the real use
cases and the simulated providers; the orders are rows in the order database that say
how the saga ended. The check must pass the orders whose ledger agrees and name each
one that does not, with what is wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from orderly_kit.audit import Actor
from orderly_kit.db import Database
from orderly_kit.messaging import Messaging
from orderly_kit.outbox import OutboxSignal
from orderly_ops import cli
from orderly_ops.invariants import (
    LEDGER_AGREES,
    MONEY_BALANCES,
    PAYMENT_INVARIANTS,
    Databases,
    check_payments,
)
from orderly_payment import use_cases
from orderly_payment.adapters import orm
from orderly_payment.adapters.providers import ProviderTimeoutError
from orderly_payment.bootstrap import providers_for
from orderly_payment.domain.payments import RefundRetryPolicy
from orderly_payment.settings import PaymentSettings
from orderly_schemas.base import Money
from orderly_schemas.checkout import PaymentDetails
from orderly_schemas.payment import CapturePayment, ChargePayment, RefundPayment

#: One attempt: a refund the provider rejects fails at once.
ONE_ATTEMPT = RefundRetryPolicy(max_attempts=1, backoff=timedelta(milliseconds=10))


def run(url: str, sql: str, **params: Any) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql), params)
    engine.dispose()


class Shop:
    """Orders as the saga left them, and their payments as the payment service made them."""

    def __init__(
        self, dbs: Databases, messaging: Messaging, gateway: use_cases.payments.Gateway
    ) -> None:
        self.dbs = dbs
        self.messaging = messaging
        self.gateway = gateway
        self.numbers: dict[uuid.UUID, str] = {}

    def order(self, status: str, total: int) -> uuid.UUID:
        order_id = uuid.uuid4()
        number = f"ORD-{order_id.hex[:7]}"
        run(
            self.dbs.order,
            "INSERT INTO orders (order_id, order_number, status, customer_id, customer_email,"
            " customer_name, currency, total_amount, shipping_address, payment_method,"
            " payment_token, placed_at, status_since) VALUES (:id, :n, :s, 'C1', 'a@b.c', 'A',"
            " 'EUR', :t, '{}', 'credit_card', 'tok', :now, :now)",
            id=order_id,
            n=number,
            s=status,
            t=total,
            now=datetime.now(UTC) - timedelta(minutes=1),
        )
        self.numbers[order_id] = number
        return order_id

    async def pay(self, order_id: uuid.UUID, amount: int, token: str = "tok_ok_1") -> None:
        async with self.messaging.unit_of_work() as uow:
            await use_cases.payments.capture_payment(
                uow,
                CapturePayment(
                    order_id=order_id,
                    amount=Money(amount=amount, currency="EUR"),
                    payment=PaymentDetails(method="credit_card", token=token),
                ),
                gateway=self.gateway,
            )

    async def saga_refund(self, order_id: uuid.UUID, amount: int) -> None:
        async with self.messaging.unit_of_work() as uow:
            await use_cases.payments.refund_payment(
                uow,
                RefundPayment(
                    order_id=order_id,
                    refund_id=f"{order_id}:cancel",
                    amount=Money(amount=amount, currency="EUR"),
                    reason="customer cancelled",
                ),
                gateway=self.gateway,
            )

    async def charge(self, order_id: uuid.UUID, amount: int) -> None:
        """An exchange's price difference, charged to the order's method."""
        async with self.messaging.unit_of_work() as uow:
            await use_cases.payments.charge_payment(
                uow,
                ChargePayment(
                    order_id=order_id,
                    charge_id=f"exchange:{order_id}",
                    amount=Money(amount=amount, currency="EUR"),
                    payment=PaymentDetails(method="credit_card", token="tok_ok_1"),
                    reason="exchange",
                ),
                gateway=self.gateway,
            )

    async def refund_by_hand(self, order_id: uuid.UUID, amount: int) -> None:
        async with self.messaging.unit_of_work() as uow:
            await use_cases.payments.refund_by_hand(
                uow,
                order_id=order_id,
                idempotency_key=str(uuid.uuid4()),
                amount=Money(amount=amount, currency="EUR"),
                reason="goodwill: late delivery",
                requested_by=Actor("fin.anna", "finance"),
                gateway=self.gateway,
            )

    def problems(self) -> dict[str, list[tuple[str, str]]]:
        """Per order number, (invariant, detail) of each violation ``payments`` reports."""
        report = check_payments(order=self.dbs.order, payment=self.dbs.payment)
        assert report.checked == list(PAYMENT_INVARIANTS)
        found: dict[str, list[tuple[str, str]]] = {}
        for v in report.violations:
            found.setdefault(v.subject, []).append((v.invariant, v.detail))
        return found


@pytest.fixture
async def shop(dbs: Databases) -> AsyncIterator[Shop]:
    database = Database(dbs.payment, pool_size=2)
    messaging = Messaging(
        database=database,
        outbox=orm.outbox,
        inbox=orm.inbox,
        service="payment",
        signal=OutboxSignal(),
    )
    gateway = use_cases.payments.Gateway(
        providers=providers_for(PaymentSettings(database_url=dbs.payment), database=database),
        database=database,
        retry=ONE_ATTEMPT,
    )
    yield Shop(dbs, messaging, gateway)
    await database.dispose()


async def test_orders_whose_ledger_agrees_with_the_saga_pass(shop: Shop) -> None:
    kept = shop.order("completed", 4999)
    await shop.pay(kept, 4999)
    await shop.refund_by_hand(kept, 1000)  # finance's goodwill: not a disagreement
    cancelled = shop.order("cancelled", 2000)
    await shop.pay(cancelled, 2000)
    await shop.saga_refund(cancelled, 2000)
    declined = shop.order("cancelled", 700)
    await shop.pay(declined, 700, token="tok_decline_funds_1")
    unanswered = shop.order("cancelled", 600)  # no answer, then voided: no hold released
    with pytest.raises(ProviderTimeoutError):
        await shop.pay(unanswered, 600, token="tok_timeout_1")
    await shop.saga_refund(unanswered, 600)
    shop.order("rejected", 300)  # never got as far as its payment
    shop.order("reserved", 900)  # awaiting its payment

    report = check_payments(order=shop.dbs.order, payment=shop.dbs.payment)

    assert report.ok, report.summary()
    assert report.stats["money"] == {
        "net_captured": 4999,
        "kept_orders_value": 4999,
        "refunded_by_hand": 1000,
    }


async def test_each_order_whose_ledger_disagrees_is_named_with_what_is_wrong(
    shop: Shop,
) -> None:
    good = shop.order("completed", 4999)
    await shop.pay(good, 4999)
    never_paid = shop.order("shipped", 3000)  # the saga moved on; the card was declined
    await shop.pay(never_paid, 3000, token="tok_decline_1")
    kept_money = shop.order("cancelled", 1500)  # the refund was rejected, yet "cancelled"
    await shop.pay(kept_money, 1500, token="tok_refundfail_1")
    await shop.saga_refund(kept_money, 1500)
    drifted = shop.order("completed", 2500)
    await shop.pay(drifted, 2500)
    await shop.refund_by_hand(drifted, 500)
    run(
        shop.dbs.payment, "UPDATE payments SET status = 'captured' WHERE order_id = :id", id=drifted
    )

    problems = shop.problems()

    assert problems == {
        shop.numbers[never_paid]: [
            (LEDGER_AGREES, "shipped but its ledger holds no succeeded capture"),
        ],
        shop.numbers[kept_money]: [
            (
                MONEY_BALANCES,
                "cancelled with 1500 captured net of refunds; expected 0 (EUR minor units)",
            ),
            (LEDGER_AGREES, "cancelled with 1500 captured net of refunds"),
        ],
        shop.numbers[drifted]: [
            (
                LEDGER_AGREES,
                "payments.status says captured, its ledger says partially_refunded",
            ),
        ],
        "all orders": [
            (
                MONEY_BALANCES,
                "captured net of refunds is 8999 (refunds by hand of kept orders left out),"
                " kept orders are worth 7499",
            ),
        ],
    }


async def test_charges_are_money_taken_that_an_order_ending_without_payment_gives_back(
    shop: Shop,
) -> None:
    exchanged = shop.order("completed", 4999)  # kept its total; the exchange is the return's
    await shop.pay(exchanged, 4999)
    await shop.charge(exchanged, 700)
    all_back = shop.order("cancelled", 2000)  # refunded in full: capture and charge
    await shop.pay(all_back, 2000)
    await shop.charge(all_back, 300)
    await shop.saga_refund(all_back, 2300)
    charge_kept = shop.order("cancelled", 1500)  # refunded the capture only
    await shop.pay(charge_kept, 1500)
    await shop.charge(charge_kept, 400)
    await shop.saga_refund(charge_kept, 1500)

    problems = shop.problems()

    assert problems == {
        shop.numbers[charge_kept]: [
            (
                MONEY_BALANCES,
                "cancelled with 400 captured net of refunds; expected 0 (EUR minor units)",
            ),
            (LEDGER_AGREES, "cancelled with 400 captured net of refunds"),
        ],
        "all orders": [
            (
                MONEY_BALANCES,
                "captured net of refunds is 5399 (refunds by hand of kept orders left out),"
                " kept orders are worth 4999",
            ),
        ],
    }


async def test_the_payments_command_needs_only_the_order_and_payment_databases(
    shop: Shop, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = shop.order("completed", 1200)
    await shop.pay(good, 1200)
    for name in ("ORDER", "INVENTORY", "PAYMENT", "NOTIFICATION", "ANALYTICS"):
        monkeypatch.delenv(f"{name}_DATABASE_URL", raising=False)
    args = [f"--order-db={shop.dbs.order}", f"--payment-db={shop.dbs.payment}", "payments"]

    assert cli.main(args) == 0
    assert f"ok    {LEDGER_AGREES}" in capsys.readouterr().out

    broken = shop.order("completed", 800)  # no payment at all
    assert cli.main(args) == 1
    out = capsys.readouterr().out
    assert f"FAIL  {LEDGER_AGREES}" in out
    assert f"{shop.numbers[broken]}: completed but no payment was ever attempted" in out

    assert cli.main(["--order-db=postgresql://x/y", "payments"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: set PAYMENT_DATABASE_URL (or pass --<service>-db)"
    )
