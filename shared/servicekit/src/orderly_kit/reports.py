"""Reports over HTTP, written once for every service: a period of whole UTC days, JSON or
CSV as the caller asks, and CSV whose text a spreadsheet never runs as a formula.

A report route takes ``from`` and ``to`` (``From``, ``To``: dates, both days included) and
``format`` (``Format``); it answers JSON unless ``format=csv``, or, without ``format``, an
Accept header that lists ``text/csv`` before JSON (``chosen_format``). ``checked_period``
refuses a backwards period, or one longer than ``MAX_DAYS``, with the kit's 422 naming
``to``; ``bounds`` gives the instants a query compares times with. ``csv_chunks`` writes
rows as CSV under a header row, in chunks for a ``StreamingResponse`` (``csv_response``):
every text cell that could start a formula (``=``, ``+``, ``-``, ``@``, tab, CR) is
prefixed with ``'`` (``spreadsheet_safe``), so a value a customer or a partner typed
cannot run in finance's spreadsheet; numbers stay numbers, a negative one too.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from orderly_kit.http_errors import invalid

#: The longest period one report may cover, in days (from and to included).
MAX_DAYS: Final = 366
CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"
#: A report route's ``responses=``: its 200 may be CSV as well as JSON.
CSV_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}
#: What makes a spreadsheet read a cell as a formula (or, for tab and CR, hide its start).
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


#: A report's query parameters: its first and last UTC day, and the format asked for.
From = Annotated[date, Query(alias="from", description="first UTC day (YYYY-MM-DD), included")]
To = Annotated[date, Query(alias="to", description="last UTC day, included")]
Format = Annotated[
    ReportFormat | None,
    Query(alias="format", description="json or csv; without it, as Accept prefers"),
]

#: A CSV cell: text is guarded, numbers and empty cells are written as they are.
Cell = str | int | float | None


class PeriodError(ValueError):
    """A period the report refuses; ``field`` is ``from`` or ``to``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_period(first: date, last: date) -> None:
    """Refuse a backwards period, or one longer than MAX_DAYS."""
    if last < first:
        raise PeriodError("to", f"to ({last}) must not be before from ({first})")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(
            "to",
            f"the period from {first} to {last} is {(last - first).days + 1} days; a report"
            f" covers at most {MAX_DAYS}: ask for it in parts",
        )


def checked_period(first: date, last: date) -> tuple[datetime, datetime]:
    """The period's ``bounds``, or the kit's 422 naming the query field that is wrong."""
    try:
        check_period(first, last)
    except PeriodError as exc:
        value = first if exc.field == "from" else last
        raise invalid(("query", exc.field), str(exc), value.isoformat()) from None
    return bounds(first, last)


def bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """From the first day's UTC midnight (included) to the midnight after the last day
    (excluded)."""
    return _midnight(first), _midnight(last + timedelta(days=1))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def wants_csv(accept: str) -> bool:
    """Whether the Accept header lists CSV before JSON (or before any type)."""
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media == "text/csv":
            return True
        if media in ("application/json", "application/*", "*/*"):
            return False
    return False


def chosen_format(fmt: ReportFormat | None, request: Request) -> ReportFormat:
    """``format`` if given, else CSV if the request's Accept header prefers it, else JSON."""
    if fmt is not None:
        return fmt
    return ReportFormat.CSV if wants_csv(request.headers.get("accept", "")) else ReportFormat.JSON


def spreadsheet_safe(value: str) -> str:
    """A text cell a spreadsheet shows as text: one that could start a formula gets a '."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _guarded(row: Sequence[Cell]) -> list[Cell]:
    return [spreadsheet_safe(cell) if isinstance(cell, str) else cell for cell in row]


async def csv_chunks(
    columns: Sequence[str],
    rows: AsyncIterable[Sequence[Cell]] | Iterable[Sequence[Cell]],
    *,
    chunk: int = 500,
) -> AsyncIterator[str]:
    """``rows`` as CSV under a header row of ``columns``, in chunks of text; every text
    cell ``spreadsheet_safe``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    async for row in _each(rows):
        writer.writerow(_guarded(row))
        count += 1
        if count % chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def _each(
    rows: AsyncIterable[Sequence[Cell]] | Iterable[Sequence[Cell]],
) -> AsyncIterator[Sequence[Cell]]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


def csv_response(chunks: AsyncIterator[str], *, filename: str) -> StreamingResponse:
    """CSV text streamed as an attachment named ``filename``."""
    return StreamingResponse(
        chunks,
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
