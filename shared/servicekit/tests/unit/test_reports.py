"""What every report shares: formula-safe text cells, periods, the format asked for, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from orderly_kit.reports import (
    Cell,
    PeriodError,
    bounds,
    check_period,
    csv_chunks,
    spreadsheet_safe,
    wants_csv,
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


def test_a_period_runs_from_the_first_midnight_to_the_one_after_the_last_day() -> None:
    assert bounds(date(2026, 2, 28), date(2026, 3, 1)) == (
        datetime(2026, 2, 28, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        ("text/csv", True),
        ("text/csv;q=0.9, application/json", True),
        ("application/json, text/csv", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_csv_is_chosen_when_accept_lists_it_before_json(accept: str, csv_wanted: bool) -> None:
    assert wants_csv(accept) is csv_wanted


async def test_csv_guards_every_text_cell_and_leaves_numbers_alone() -> None:
    rows: list[list[Cell]] = [["=SUM(A1)", -5, None], ["plain", 3, 1.5]]

    text = "".join([chunk async for chunk in csv_chunks(("name", "n", "x"), rows, chunk=1)])

    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "n", "x"],
        ["'=SUM(A1)", "-5", ""],
        ["plain", "3", "1.5"],
    ]
