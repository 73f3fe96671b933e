"""The reconciliation report's totals (its periods and CSV cells are the kit's:
``shared/servicekit/tests/unit/test_reports.py``)."""

from __future__ import annotations

from datetime import date

from orderly_payment.queries.reconciliation import ReconciliationRow, totals


def test_totals_are_per_currency_and_never_mixed() -> None:
    def row(method: str, currency: str, captured: int, refunded: int) -> ReconciliationRow:
        return ReconciliationRow(
            day=date(2026, 3, 1),
            method=method,
            currency=currency,
            captured=captured,
            refunded=refunded,
            net=captured - refunded,
            captures=1 if captured else 0,
            refunds=1 if refunded else 0,
            charged=0,
            charges=0,
        )

    found = totals(
        [
            row("credit_card", "EUR", 100, 0),
            row("debit_card", "USD", 50, 0),
            row("mobile_wallet", "EUR", 0, 30),
        ]
    )

    assert [(t.currency, t.captured, t.refunded, t.net, t.captures, t.refunds) for t in found] == [
        ("EUR", 100, 30, 70, 1, 1),
        ("USD", 50, 0, 50, 1, 0),
    ]
