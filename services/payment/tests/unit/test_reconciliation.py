"""The reconciliation report's pure parts: formula-safe text cells, periods, totals."""

from __future__ import annotations

from datetime import date

import pytest

from orderly_payment.queries.reconciliation import (
    PeriodError,
    ReconciliationRow,
    check_period,
    spreadsheet_safe,
    totals,
)


@pytest.mark.parametrize(
    "text",
    ["=1+2", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x")'],
)
def test_a_text_cell_that_could_start_a_formula_is_quoted(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("text", ["credit_card", "EUR", "a=b", "", "'=already"])
def test_other_text_is_left_alone(text: str) -> None:
    assert spreadsheet_safe(text) == text


def test_a_period_may_be_one_day_or_366() -> None:
    check_period(date(2026, 3, 1), date(2026, 3, 1))
    check_period(date(2024, 1, 1), date(2024, 12, 31))


@pytest.mark.parametrize(
    ("first", "last"),
    [(date(2026, 3, 2), date(2026, 3, 1)), (date(2025, 1, 1), date(2026, 1, 2))],
)
def test_a_backwards_or_too_long_period_is_refused_naming_to(first: date, last: date) -> None:
    with pytest.raises(PeriodError) as refused:
        check_period(first, last)

    assert refused.value.field == "to"


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
