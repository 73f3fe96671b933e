"""The movement export: the ledger of a period as CSV (with a header row) or a JSON array."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from enum import StrEnum

from orderly_inventory.queries.ledger import MOVEMENT_FIELDS, MovementRead

#: Movements written per chunk of the response.
CHUNK = 500


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


MEDIA_TYPES = {ExportFormat.CSV: "text/csv; charset=utf-8", ExportFormat.JSON: "application/json"}


async def render(movements: AsyncIterator[MovementRead], fmt: ExportFormat) -> AsyncIterator[str]:
    """The export of ``movements`` in ``fmt``, in chunks of text."""
    if fmt is ExportFormat.CSV:
        async for chunk in _csv(movements):
            yield chunk
    else:
        async for chunk in _json(movements):
            yield chunk


async def _csv(movements: AsyncIterator[MovementRead]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MOVEMENT_FIELDS)
    count = 0
    async for m in movements:
        row = m.model_dump(mode="json")
        writer.writerow("" if row[f] is None else row[f] for f in MOVEMENT_FIELDS)
        count += 1
        if count % CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def _json(movements: AsyncIterator[MovementRead]) -> AsyncIterator[str]:
    parts = ["["]
    first = True
    async for m in movements:
        parts.append(("\n" if first else ",\n") + m.model_dump_json())
        first = False
        if len(parts) >= CHUNK:
            yield "".join(parts)
            parts = []
    parts.append("\n]\n" if not first else "]\n")
    yield "".join(parts)


class PeriodError(ValueError):
    """A period the export refuses; ``field`` is ``from`` or ``to``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_period(since: datetime, until: datetime, *, max_days: float) -> None:
    """Refuse a period that is naive, empty or backwards, or longer than ``max_days``."""
    for field, moment in (("from", since), ("to", until)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise PeriodError(field, f"{field} must be timezone-aware (e.g. 2026-01-31T12:00:00Z)")
    if until <= since:
        raise PeriodError(
            "to", f"to ({until.isoformat()}) must be after from ({since.isoformat()})"
        )
    if until - since > timedelta(days=max_days):
        raise PeriodError(
            "to",
            f"the period may be at most {max_days:g} days (INVENTORY_EXPORT_MAX_DAYS):"
            " export it in parts",
        )
