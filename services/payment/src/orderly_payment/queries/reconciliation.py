"""The reconciliation report: money captured, charged and refunded per day, method and
currency.

Read from the ledger's *succeeded* captures, charges and refunds only (what the provider
confirmed), each on the UTC day it was answered, with the payment's method. A
finance team compares it with the providers' settlement reports: the two should
agree day by day. The period, the formats and the CSV's guard are the kit's
(``orderly_kit.reports``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import date
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Date, Select, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from orderly_kit.reports import Cell, bounds, csv_chunks
from orderly_payment.adapters.orm import payment_operations, payments
from orderly_payment.domain.ledger import OperationKind, OperationStatus

#: The charges' columns come last: a spreadsheet that reads the older columns by position
#: still finds them.
COLUMNS: Final = (
    "day",
    "method",
    "currency",
    "captured",
    "refunded",
    "net",
    "captures",
    "refunds",
    "charged",
    "charges",
)


class ReconciliationRow(BaseModel):
    """One day's money of one payment method in one currency (amounts in minor units)."""

    day: date = Field(description="the UTC day the provider answered")
    method: str
    currency: str
    captured: int = Field(description="sum of succeeded captures")
    refunded: int = Field(description="sum of succeeded refund attempts")
    net: int = Field(
        description="captured and charged less refunded (negative when refunds exceed)"
    )
    captures: int = Field(description="how many succeeded captures")
    refunds: int = Field(description="how many succeeded refund attempts")
    charged: int = Field(description="sum of succeeded charges after the capture")
    charges: int = Field(description="how many succeeded charges")


class CurrencyTotal(BaseModel):
    """The whole period's money in one currency (amounts in minor units)."""

    currency: str
    captured: int
    refunded: int
    net: int
    captures: int
    refunds: int
    charged: int
    charges: int


class ReconciliationReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(alias="from", description="the first UTC day, included")
    last: date = Field(alias="to", description="the last UTC day, included")
    rows: list[ReconciliationRow] = Field(description="by day, then method, then currency")
    totals: list[CurrencyTotal] = Field(description="per currency, for the whole period")


def _query(first: date, last: date) -> Select[Any]:
    ops = payment_operations.c
    day = cast(func.timezone("UTC", ops.answered_at), Date)
    is_capture = ops.kind == OperationKind.CAPTURE.value
    is_refund = ops.kind == OperationKind.REFUND.value
    is_charge = ops.kind == OperationKind.CHARGE.value
    since, until = bounds(first, last)
    return (
        select(
            day.label("day"),
            payments.c.method,
            ops.currency,
            func.coalesce(func.sum(ops.amount).filter(is_capture), 0).label("captured"),
            func.coalesce(func.sum(ops.amount).filter(is_refund), 0).label("refunded"),
            func.count().filter(is_capture).label("captures"),
            func.count().filter(is_refund).label("refunds"),
            func.coalesce(func.sum(ops.amount).filter(is_charge), 0).label("charged"),
            func.count().filter(is_charge).label("charges"),
        )
        .select_from(payment_operations.join(payments, payments.c.payment_id == ops.payment_id))
        .where(ops.status == OperationStatus.SUCCEEDED.value)
        .where(
            ops.kind.in_(
                [
                    OperationKind.CAPTURE.value,
                    OperationKind.CHARGE.value,
                    OperationKind.REFUND.value,
                ]
            )
        )
        .where(ops.answered_at >= since)
        .where(ops.answered_at < until)
        .group_by(day, payments.c.method, ops.currency)
        .order_by(day, payments.c.method, ops.currency)
    )


def _row(r: Any) -> ReconciliationRow:
    captured, charged, refunded = int(r["captured"]), int(r["charged"]), int(r["refunded"])
    return ReconciliationRow(
        day=r["day"],
        method=r["method"],
        currency=r["currency"],
        captured=captured,
        refunded=refunded,
        net=captured + charged - refunded,
        captures=int(r["captures"]),
        refunds=int(r["refunds"]),
        charged=charged,
        charges=int(r["charges"]),
    )


async def stream_rows(
    engine: AsyncEngine, first: date, last: date
) -> AsyncIterator[ReconciliationRow]:
    """The report's rows, read through one server-side cursor (one snapshot)."""
    async with engine.connect() as conn, conn.begin():
        result = await conn.stream(_query(first, last))
        async for r in result.mappings():
            yield _row(r)


async def report(engine: AsyncEngine, first: date, last: date) -> ReconciliationReport:
    """The report as one document: its rows and the totals per currency."""
    rows = [r async for r in stream_rows(engine, first, last)]
    return ReconciliationReport(first=first, last=last, rows=rows, totals=totals(rows))


def totals(rows: Iterable[ReconciliationRow]) -> list[CurrencyTotal]:
    """Per currency, the sums of ``rows`` (never across currencies)."""
    by_currency: dict[str, CurrencyTotal] = {}
    for r in rows:
        t = by_currency.get(r.currency) or CurrencyTotal(
            currency=r.currency,
            captured=0,
            refunded=0,
            net=0,
            captures=0,
            refunds=0,
            charged=0,
            charges=0,
        )
        by_currency[r.currency] = CurrencyTotal(
            currency=r.currency,
            captured=t.captured + r.captured,
            refunded=t.refunded + r.refunded,
            net=t.net + r.net,
            captures=t.captures + r.captures,
            refunds=t.refunds + r.refunds,
            charged=t.charged + r.charged,
            charges=t.charges + r.charges,
        )
    return [by_currency[c] for c in sorted(by_currency)]


def _cells(row: ReconciliationRow) -> list[Cell]:
    # The kit guards the text cells; a negative net stays a number.
    return [
        row.day.isoformat(),
        row.method,
        row.currency,
        row.captured,
        row.refunded,
        row.net,
        row.captures,
        row.refunds,
        row.charged,
        row.charges,
    ]


async def render_csv(rows: AsyncIterator[ReconciliationRow]) -> AsyncIterator[str]:
    """The rows as CSV with a header row, in chunks of text."""
    async for text in csv_chunks(COLUMNS, (_cells(row) async for row in rows)):
        yield text
