"""HTTP API of the after-sales report: for one period, returns (by reason, SKU and
warehouse, with each SKU's return rate), refunds and restocking fees, exchanges and claims,
cases (by category, their agreements met, their times) and feedback; as JSON, or as CSV.

Who may call: support (its leads) and finance; admin may. The report holds no personal
data: counts, codes, SKUs, warehouses, carriers, money and times. A period backwards or
longer than the kit's limit is the kit's 422 naming ``to``; a date that is not one, a 422
naming ``from`` or ``to``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from orderly_kit import reports
from orderly_kit.auth import Permission, Role
from orderly_kit.service import Service
from orderly_support import queries
from orderly_support.queries.after_sales import COLUMNS, AfterSalesReport, csv_rows

REPORT = Permission.of(
    "after_sales:report",
    Role.SUPPORT,
    Role.FINANCE,
    description="read the after-sales report (returns, exchanges, claims, cases, feedback)",
)


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["reports"])
    database = service.database

    @r.get(
        "/reports/after-sales",
        response_model=AfterSalesReport,
        responses=reports.CSV_RESPONSES,
        dependencies=[Depends(REPORT)],
    )
    async def after_sales_report(
        request: Request, first: reports.From, last: reports.To, fmt: reports.Format = None
    ) -> Any:
        """Returns, exchanges, claims, cases and feedback of the UTC days from ``from`` to
        ``to``; as JSON, or as CSV (one number a row: section, key, measure, value)."""
        since, until = reports.checked_period(first, last)
        found = await queries.after_sales.report(
            database.engine, first, last, since=since, until=until
        )
        if reports.chosen_format(fmt, request) is reports.ReportFormat.JSON:
            return found
        return reports.csv_response(
            reports.csv_chunks(COLUMNS, csv_rows(found)),
            filename=f"after-sales_{first.isoformat()}_{last.isoformat()}.csv",
        )

    return r
