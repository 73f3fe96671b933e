"""The after-sales report of one period, for support leads and finance: returns, exchanges
and claims, cases and their agreements, feedback (``domain/after_sales.py`` says what counts
in which period).

Computed in SQL, one statement per part, all in one REPEATABLE READ READ ONLY transaction,
so every part sees the same snapshot. The period is ``[since, until)``: from the first
day's UTC midnight to the midnight after the last day (``orderly_kit.reports.bounds``).
Money is summed per currency, never across. Rates and averages are rounded to 4 places,
durations are seconds. ``csv_rows`` flattens the report as the CSV shows it: one row per
number (section, key, measure, value), so the CSV and the JSON say the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orderly_kit.reports import Cell

#: The CSV's columns.
COLUMNS: Final = ("section", "key", "measure", "value")


class ReasonCount(BaseModel):
    reason: str
    returns: int
    units: int


class SkuCount(BaseModel):
    sku: str
    returns: int
    units: int = Field(description="units received back")
    sold: int = Field(description="units on orders confirmed in the period")
    return_rate: float | None = Field(description="units ÷ sold; null when none was sold")


class WarehouseCount(BaseModel):
    warehouse: str
    returns: int
    units: int


class Refunds(BaseModel):
    """Returns completed in the period with money in one currency (minor units)."""

    currency: str
    returns: int
    refunded: int
    restocking_fees: int


class ReturnsPart(BaseModel):
    requested: int = Field(description="returns asked for in the period")
    received: int = Field(description="returns whose goods came back in the period")
    units: int = Field(description="units received back")
    by_reason: list[ReasonCount]
    by_sku: list[SkuCount]
    by_warehouse: list[WarehouseCount]
    refunds: list[Refunds] = Field(description="per currency, of the returns completed")


class Charged(BaseModel):
    """An exchange's price differences charged, in one currency (minor units)."""

    currency: str
    returns: int
    charged: int


class ExchangesPart(BaseModel):
    requested: int = Field(description="returns asked for in exchange for other goods")
    replacement_shipped: int
    fell_back_to_refund: int = Field(description="the new goods could not be had")
    charged: list[Charged] = Field(description="per currency, of the returns completed")


class CarrierCount(BaseModel):
    carrier: str | None = Field(description="null when the claim named none")
    claims: int


class KindCount(BaseModel):
    kind: str = Field(description="lost or damaged")
    claims: int


class ResolutionCount(BaseModel):
    resolution: str = Field(description="reshipment or refund")
    claims: int


class ClaimsPart(BaseModel):
    settled: int
    by_carrier: list[CarrierCount]
    by_kind: list[KindCount]
    by_resolution: list[ResolutionCount]


class CategoryCount(BaseModel):
    category: str
    cases: int


class Agreement(BaseModel):
    """One agreement of the cases due in the period."""

    due: int = Field(description="cases whose agreement fell due in the period")
    met: int
    missed: int
    attainment: float | None = Field(
        description="met ÷ (met + missed): of those decided (a pending one is neither);"
        " null when none is decided"
    )


class Durations(BaseModel):
    """How long something took, over the cases it happened to in the period."""

    cases: int
    p50_seconds: float | None
    p90_seconds: float | None


class Satisfaction(BaseModel):
    rated: int = Field(description="cases rated in the period")
    average: float | None


class CasesPart(BaseModel):
    opened: int
    by_category: list[CategoryCount]
    first_response: Agreement = Field(description="of cases customers opened")
    resolution: Agreement
    time_to_first_response: Durations = Field(description="of cases customers opened")
    time_to_resolution: Durations = Field(
        description="to the resolution, or to the closing of a case closed unresolved"
    )
    satisfaction: Satisfaction


class RatingCount(BaseModel):
    rating: int
    count: int


class FeedbackPart(BaseModel):
    given: int = Field(description="feedback first given in the period")
    average_rating: float | None
    ratings: list[RatingCount] = Field(description="every rating, 1 to 5")


class AfterSalesReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(alias="from", description="the first UTC day, included")
    last: date = Field(alias="to", description="the last UTC day, included")
    returns: ReturnsPart
    exchanges: ExchangesPart
    claims: ClaimsPart
    cases: CasesPart
    feedback: FeedbackPart


def _in(column: str) -> str:
    """SQL: ``column`` is within the period."""
    return f"({column} >= :since AND {column} < :until)"


_RETURNS_ASKED = text(
    f"""
    SELECT count(*) FILTER (WHERE {_in("requested_at")}) AS requested,
           count(*) FILTER (WHERE {_in("requested_at")} AND exchange) AS exchanges,
           count(*) FILTER (WHERE {_in("replacement_shipped_at")}) AS replacement_shipped,
           count(*) FILTER (WHERE {_in("replacement_unavailable_at")}) AS fell_back_to_refund
    FROM returns
    """
)
#: The returns received, by reason, by warehouse and in all (the empty grouping set).
_RETURNS_RECEIVED = text(
    f"""
    SELECT CASE GROUPING(r.reason, r.warehouse) WHEN 1 THEN 'reason' WHEN 2 THEN 'warehouse'
             ELSE 'all' END AS by,
           r.reason, r.warehouse,
           count(DISTINCT r.return_id) AS returns, sum(l.units) AS units
    FROM returns AS r CROSS JOIN LATERAL unnest(r.skus, r.units) AS l(sku, units)
    WHERE {_in("r.received_at")}
    GROUP BY GROUPING SETS ((r.reason), (r.warehouse), ())
    ORDER BY 2, 3
    """
)
#: Each SKU received back, beside its units sold on orders confirmed in the period.
_RETURNS_BY_SKU = text(
    f"""
    WITH returned AS (
        SELECT l.sku, count(*) AS returns, sum(l.units) AS units
        FROM returns AS r CROSS JOIN LATERAL unnest(r.skus, r.units) AS l(sku, units)
        WHERE {_in("r.received_at")}
        GROUP BY l.sku
    ), sold AS (
        SELECT l.sku, sum(l.units) AS units
        FROM orders AS o CROSS JOIN LATERAL unnest(o.skus, o.units) AS l(sku, units)
        WHERE {_in("o.confirmed_at")} AND l.sku IN (SELECT sku FROM returned)
        GROUP BY l.sku
    )
    SELECT returned.sku, returned.returns, returned.units, coalesce(sold.units, 0) AS sold,
           round(returned.units::numeric / nullif(sold.units, 0), 4) AS return_rate
    FROM returned LEFT JOIN sold USING (sku)
    ORDER BY returned.sku
    """
)
#: Refunded and restocking fees per currency (each Money has its own, never mixed).
_REFUNDS = text(
    f"""
    SELECT m.currency, count(DISTINCT r.return_id) AS returns,
           sum(m.refunded)::bigint AS refunded, sum(m.fee)::bigint AS restocking_fees
    FROM returns AS r CROSS JOIN LATERAL (
        VALUES (r.refunded_currency, r.refunded, 0::bigint),
               (r.restocking_fee_currency, 0::bigint, r.restocking_fee)
    ) AS m(currency, refunded, fee)
    WHERE {_in("r.completed_at")}
    GROUP BY m.currency
    ORDER BY m.currency
    """
)
_CHARGED = text(
    f"""
    SELECT charged_currency AS currency, count(*) AS returns, sum(charged)::bigint AS charged
    FROM returns
    WHERE {_in("completed_at")} AND charged IS NOT NULL
    GROUP BY charged_currency
    ORDER BY charged_currency
    """
)
_CLAIMS = text(
    f"""
    SELECT CASE GROUPING(carrier, kind, resolution) WHEN 3 THEN 'carrier' WHEN 5 THEN 'kind'
             WHEN 6 THEN 'resolution' ELSE 'all' END AS by,
           carrier, kind, resolution, count(*) AS claims
    FROM claims
    WHERE {_in("claimed_at")}
    GROUP BY GROUPING SETS ((carrier), (kind), (resolution), ())
    ORDER BY 2, 3, 4
    """
)
_CASES_OPENED = text(
    f"""
    SELECT GROUPING(category) = 1 AS in_all, category, count(*) AS cases
    FROM cases
    WHERE {_in("opened_at")}
    GROUP BY GROUPING SETS ((category), ())
    ORDER BY 2
    """
)
#: One pass over the cases: each agreement due in the period met or missed (a pending one
#: neither), the times to the first response and to the resolution (or the closing of a
#: case closed unresolved) of those given in the period, the scores given in it. A case
#: support opened is its own first response: no first-response figure counts it.
_CASES_SERVED = text(
    f"""
    WITH c AS (
        SELECT opened_by_party = 'customer' AND {_in("first_response_due_at")} AS fr_due,
               first_responded_at <= first_response_due_at AS fr_met,
               first_response_breached_at IS NOT NULL
                 OR first_responded_at > first_response_due_at AS fr_missed,
               {_in("resolution_due_at")} AS res_due,
               resolution_breached_at IS NULL
                 AND coalesce(resolved_at, closed_at) <= resolution_due_at AS res_met,
               resolution_breached_at IS NOT NULL
                 OR coalesce(resolved_at, closed_at) > resolution_due_at AS res_missed,
               CASE WHEN opened_by_party = 'customer' AND {_in("first_responded_at")}
                    THEN extract(epoch FROM first_responded_at - opened_at) END AS fr_seconds,
               CASE WHEN {_in("coalesce(resolved_at, closed_at)")}
                    THEN extract(epoch FROM coalesce(resolved_at, closed_at) - opened_at)
               END AS res_seconds,
               CASE WHEN {_in("rated_at")} THEN satisfaction END AS satisfaction
        FROM cases
    )
    SELECT count(*) FILTER (WHERE fr_due) AS fr_due,
           count(*) FILTER (WHERE fr_due AND fr_met) AS fr_met,
           count(*) FILTER (WHERE fr_due AND fr_missed) AS fr_missed,
           count(*) FILTER (WHERE res_due) AS res_due,
           count(*) FILTER (WHERE res_due AND res_met) AS res_met,
           count(*) FILTER (WHERE res_due AND res_missed) AS res_missed,
           count(fr_seconds) AS fr_cases,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY fr_seconds) AS fr_p50,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY fr_seconds) AS fr_p90,
           count(res_seconds) AS res_cases,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY res_seconds) AS res_p50,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY res_seconds) AS res_p90,
           count(satisfaction) AS rated,
           round(avg(satisfaction), 4) AS satisfaction
    FROM c
    """
)
_FEEDBACK = text(
    f"""
    SELECT rating, count(*) AS given, round(avg(rating), 4) AS average
    FROM feedback
    WHERE {_in("given_at")}
    GROUP BY GROUPING SETS ((rating), ())
    ORDER BY 1
    """
)


async def report(
    engine: AsyncEngine, first: date, last: date, *, since: datetime, until: datetime
) -> AfterSalesReport:
    """The report of the UTC days ``first`` to ``last`` (``[since, until)``)."""
    period = {"since": since, "until": until}
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            await conn.execute(text("SET TRANSACTION READ ONLY"))
            [asked] = await _rows(conn, _RETURNS_ASKED, period)
            return AfterSalesReport(
                first=first,
                last=last,
                returns=await _returns(conn, period, asked),
                exchanges=await _exchanges(conn, period, asked),
                claims=await _claims(conn, period),
                cases=await _cases(conn, period),
                feedback=await _feedback(conn, period),
            )


async def _rows(conn: AsyncConnection, query: Any, period: Mapping[str, Any]) -> list[RowMapping]:
    return list((await conn.execute(query, period)).mappings())


async def _returns(
    conn: AsyncConnection, period: Mapping[str, Any], asked: RowMapping
) -> ReturnsPart:
    received = await _rows(conn, _RETURNS_RECEIVED, period)
    every = [r for r in received if r["by"] == "all"]
    return ReturnsPart(
        requested=asked["requested"],
        received=sum(r["returns"] for r in every),
        units=sum(r["units"] or 0 for r in every),
        by_reason=[ReasonCount(**r) for r in received if r["by"] == "reason"],
        by_sku=[SkuCount(**r) for r in await _rows(conn, _RETURNS_BY_SKU, period)],
        by_warehouse=[WarehouseCount(**r) for r in received if r["by"] == "warehouse"],
        refunds=[Refunds(**r) for r in await _rows(conn, _REFUNDS, period)],
    )


async def _exchanges(
    conn: AsyncConnection, period: Mapping[str, Any], asked: RowMapping
) -> ExchangesPart:
    return ExchangesPart(
        requested=asked["exchanges"],
        replacement_shipped=asked["replacement_shipped"],
        fell_back_to_refund=asked["fell_back_to_refund"],
        charged=[Charged(**r) for r in await _rows(conn, _CHARGED, period)],
    )


async def _claims(conn: AsyncConnection, period: Mapping[str, Any]) -> ClaimsPart:
    rows = await _rows(conn, _CLAIMS, period)
    return ClaimsPart(
        settled=sum(r["claims"] for r in rows if r["by"] == "all"),
        by_carrier=[CarrierCount(**r) for r in rows if r["by"] == "carrier"],
        by_kind=[KindCount(**r) for r in rows if r["by"] == "kind"],
        by_resolution=[ResolutionCount(**r) for r in rows if r["by"] == "resolution"],
    )


async def _cases(conn: AsyncConnection, period: Mapping[str, Any]) -> CasesPart:
    opened = await _rows(conn, _CASES_OPENED, period)
    [s] = await _rows(conn, _CASES_SERVED, period)
    return CasesPart(
        opened=sum(r["cases"] for r in opened if r["in_all"]),
        by_category=[CategoryCount(**r) for r in opened if not r["in_all"]],
        first_response=_agreement(s["fr_due"], s["fr_met"], s["fr_missed"]),
        resolution=_agreement(s["res_due"], s["res_met"], s["res_missed"]),
        time_to_first_response=Durations(
            cases=s["fr_cases"], p50_seconds=s["fr_p50"], p90_seconds=s["fr_p90"]
        ),
        time_to_resolution=Durations(
            cases=s["res_cases"], p50_seconds=s["res_p50"], p90_seconds=s["res_p90"]
        ),
        satisfaction=Satisfaction(rated=s["rated"], average=s["satisfaction"]),
    )


def _agreement(due: int, met: int, missed: int) -> Agreement:
    decided = met + missed
    return Agreement(
        due=due,
        met=met,
        missed=missed,
        attainment=round(met / decided, 4) if decided else None,
    )


async def _feedback(conn: AsyncConnection, period: Mapping[str, Any]) -> FeedbackPart:
    rows = await _rows(conn, _FEEDBACK, period)
    given = {r["rating"]: r["given"] for r in rows if r["rating"] is not None}
    every = [r for r in rows if r["rating"] is None]  # the empty grouping set: all of them
    return FeedbackPart(
        given=sum(r["given"] for r in every),
        average_rating=every[0]["average"] if every else None,
        ratings=[RatingCount(rating=n, count=given.get(n, 0)) for n in range(1, 6)],
    )


def csv_rows(found: AfterSalesReport) -> Iterator[tuple[Cell, ...]]:
    """The report as the CSV shows it: (section, key, measure, value), one number a row.

    A part's numbers are its section's rows without a key; a list's items are rows of the
    section ``<part>.<list>`` keyed by their first field (a reason, SKU, warehouse,
    currency, carrier …), one row for each other field.
    """
    yield ("period", None, "from", found.first.isoformat())
    yield ("period", None, "to", found.last.isoformat())
    for name in ("returns", "exchanges", "claims", "cases", "feedback"):
        yield from _flattened(name, getattr(found, name))


def _flattened(section: str, part: BaseModel) -> Iterator[tuple[Cell, ...]]:
    for name, value in part:
        if isinstance(value, BaseModel):
            yield from _flattened(f"{section}.{name}", value)
        elif isinstance(value, list):
            for item in value:
                (_, key), *measures = item.model_dump().items()
                for measure, number in measures:
                    yield (f"{section}.{name}", key, measure, number)
        else:
            yield (section, None, name, value)
