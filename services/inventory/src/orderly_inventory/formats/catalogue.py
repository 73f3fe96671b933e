"""Reading ERP import files (CSV or JSON) into validated rows, with every rejected row (no I/O).

A file is read whole and every row is checked, so that the report names every
row at fault, not only the first: its number (1 is the first data row; for CSV
also the line in the file), the field and the reason. Rows of one file must not
repeat a key (a SKU, or a SKU in a warehouse). What needs the database (does the
warehouse exist? may opening stock still be set?) is checked by the use cases.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from orderly_schemas.base import CurrencyCode, Sku

#: The largest count an int4 column takes, with room for the sums a level adds up.
MAX_UNITS: Final = 1_000_000_000
MAX_MINOR_UNITS: Final = 2_147_483_647

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: The form of a SKU or warehouse code, in an import file or a request.
CODE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
WarehouseCode = Annotated[
    str, Field(min_length=1, max_length=64, pattern=CODE_PATTERN, description="warehouse code")
]


class ImportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


MEDIA_TYPES: Final = {"text/csv": ImportFormat.CSV, "application/json": ImportFormat.JSON}


class ImportFileError(ValueError):
    """The file as a whole cannot be read: no row can be trusted."""


class ImportTooLargeError(ImportFileError):
    """The file has more bytes or rows than an import takes at once."""


class ProductRow(BaseModel):
    """One product as the ERP describes it; the import replaces every field of the product."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    sku: Sku
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    unit_cost: int | None = Field(
        default=None, ge=0, le=MAX_MINOR_UNITS, description="minor units of currency, e.g. 1250"
    )
    currency: CurrencyCode | None = Field(default=None, validate_default=True)
    default_safety_stock: int = Field(default=0, ge=0, le=MAX_UNITS)

    @field_validator("currency")
    @classmethod
    def _cost_has_currency(cls, currency: str | None, info: ValidationInfo) -> str | None:
        if "unit_cost" not in info.data:
            return currency  # unit_cost itself is invalid and reported
        has_cost = info.data["unit_cost"] is not None
        if has_cost and currency is None:
            raise ValueError("required with unit_cost: the ISO 4217 code of its currency (EUR)")
        if currency is not None and not has_cost:
            raise ValueError("given without unit_cost: give both or neither")
        return currency


class OpeningStockRow(BaseModel):
    """Opening stock of one SKU in one warehouse, and optionally its safety stock."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    sku: Sku
    warehouse: WarehouseCode
    on_hand: int = Field(ge=0, le=MAX_UNITS)
    safety_stock: int | None = Field(default=None, ge=0, le=MAX_UNITS)


@dataclass(frozen=True)
class Rejection:
    """Why one row (1 = the first data row) was rejected; ``line`` is its line in a CSV file."""

    row: int
    field: str
    reason: str
    value: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Numbered(Generic[T]):
    """A row that passed, with its number (and its line in a CSV file)."""

    row: int
    value: T
    line: int | None = None


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """The rows of a file that passed, those rejected, and how many rows it had."""

    rows: list[Numbered[T]]
    rejected: list[Rejection]
    total: int


@dataclass(frozen=True)
class _Record:
    row: int
    line: int | None
    fields: dict[str, Any]


def format_of(content_type: str | None) -> ImportFormat | None:
    """The import format a Content-Type names (``text/csv; charset=utf-8``), if any."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return MEDIA_TYPES.get(media)


def read_products(data: bytes, fmt: ImportFormat, *, max_rows: int) -> Parsed[ProductRow]:
    """The products of an import file; raises ImportFileError if it cannot be read at all."""
    return _read(data, fmt, ProductRow, key=("sku",), max_rows=max_rows)


def read_opening_stock(data: bytes, fmt: ImportFormat, *, max_rows: int) -> Parsed[OpeningStockRow]:
    """The opening stock rows of an import file; raises ImportFileError as ``read_products``."""
    return _read(data, fmt, OpeningStockRow, key=("sku", "warehouse"), max_rows=max_rows)


def _read(
    data: bytes, fmt: ImportFormat, model: type[M], *, key: Sequence[str], max_rows: int
) -> Parsed[M]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"the file is not UTF-8 text (byte {exc.start} cannot be decoded): save it as UTF-8"
        ) from None
    fields = list(model.model_fields)
    required = [n for n, f in model.model_fields.items() if f.is_required()]
    rejected: list[Rejection] = []
    if fmt is ImportFormat.CSV:
        records = list(_csv_records(text, fields, required, max_rows, rejected))
    else:
        records = list(_json_records(text, fields, max_rows, rejected))
    rows: list[Numbered[M]] = []
    first_of: dict[tuple[str, ...], int] = {}
    for record in records:
        try:
            # CSV cells are text: let pydantic read "12" as 12. JSON has types: 12 it is.
            value = model.model_validate(record.fields, strict=fmt is ImportFormat.JSON)
        except ValidationError as exc:
            rejected.extend(_rejections(record, exc, fields))
        else:
            rows.append(Numbered(record.row, value, record.line))
        seen = _key(record.fields, key)
        if seen is None:
            continue
        if seen in first_of:
            named = ", ".join(f"{k} {v!r}" for k, v in zip(key, seen, strict=True))
            rejected.append(
                Rejection(
                    row=record.row,
                    line=record.line,
                    field=",".join(key),
                    value=" ".join(seen),
                    reason=f"{named} appears again (first on row {first_of[seen]}):"
                    " each may appear once in a file",
                )
            )
        else:
            first_of[seen] = record.row
    rejected_rows = {r.row for r in rejected}
    return Parsed(
        rows=[r for r in rows if r.row not in rejected_rows],
        rejected=sorted(rejected, key=lambda r: r.row),
        total=max([r.row for r in records] + [r.row for r in rejected], default=0),
    )


def _key(fields: dict[str, Any], key: Sequence[str]) -> tuple[str, ...] | None:
    values = tuple(str(fields.get(k) or "").strip() for k in key)
    return values if all(values) else None


def _too_many(max_rows: int) -> ImportTooLargeError:
    return ImportTooLargeError(
        f"the file has more than {max_rows} rows, the most one import takes"
        " (INVENTORY_IMPORT_MAX_ROWS): split it into several files"
    )


def _csv_records(
    text: str,
    fields: Sequence[str],
    required: Sequence[str],
    max_rows: int,
    rejected: list[Rejection],
) -> Iterator[_Record]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ImportFileError(
                f"the file is empty: a CSV import starts with a header row ({','.join(fields)})"
            )
        names = [h.strip().lower() for h in header]
        unknown = [n for n in names if n not in fields]
        if unknown:
            raise ImportFileError(
                f"the CSV header names unknown column(s) {', '.join(map(repr, unknown))};"
                f" the columns are {', '.join(fields)}"
            )
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ImportFileError(f"the CSV header repeats column(s) {', '.join(repeated)}")
        missing = [n for n in required if n not in names]
        if missing:
            raise ImportFileError(
                f"the CSV header lacks the required column(s) {', '.join(missing)};"
                f" the columns are {', '.join(fields)} ({', '.join(required)} required)"
            )
        row = 0
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # a blank line is no row
            row += 1
            if row > max_rows:
                raise _too_many(max_rows)
            if len(values) > len(names):
                rejected.append(
                    Rejection(
                        row=row,
                        line=reader.line_num,
                        field="(row)",
                        reason=f"has {len(values)} values but the header names"
                        f" {len(names)} columns",
                    )
                )
                continue
            # An empty cell is a value not given: optional fields take their default.
            cells = {n: v.strip() for n, v in zip(names, values, strict=False) if v.strip()}
            yield _Record(row=row, line=reader.line_num, fields=cells)
    except csv.Error as exc:
        raise ImportFileError(f"the CSV cannot be read at line {reader.line_num}: {exc}") from None


def _json_records(
    text: str, fields: Sequence[str], max_rows: int, rejected: list[Rejection]
) -> Iterator[_Record]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"the file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(document, list):
        raise ImportFileError(
            "a JSON import is an array of row objects, e.g."
            f" [{{{', '.join(f'{json.dumps(f)}: ...' for f in fields[:3])}}}]"
        )
    if len(document) > max_rows:
        raise _too_many(max_rows)
    for row, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            rejected.append(
                Rejection(
                    row=row,
                    field="(row)",
                    value=_shown(item),
                    reason=f"a row is an object with the fields {', '.join(fields)}",
                )
            )
            continue
        yield _Record(row=row, line=None, fields=item)


def _rejections(record: _Record, error: ValidationError, fields: Sequence[str]) -> list[Rejection]:
    found = []
    for e in error.errors(include_url=False):
        field = ".".join(str(p) for p in e["loc"]) or "(row)"
        if e["type"] == "extra_forbidden":
            reason = f"unknown field; the fields are {', '.join(fields)}"
        else:
            reason = e["msg"].removeprefix("Value error, ")
        given = e["type"] != "missing" and e["input"] is not None
        value = _shown(e["input"]) if given else None
        found.append(
            Rejection(row=record.row, line=record.line, field=field, value=value, reason=reason)
        )
    return found


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:79] + "…"
