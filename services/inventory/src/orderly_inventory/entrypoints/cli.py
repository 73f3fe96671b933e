"""Operator commands of the inventory service (``python -m orderly_inventory <command>``)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from orderly_inventory import formats, use_cases
from orderly_inventory.adapters.stock import StockRepository
from orderly_inventory.formats.catalogue import (
    ImportFileError,
    ImportFormat,
    read_opening_stock,
    read_products,
)
from orderly_inventory.formats.ledger import ExportFormat
from orderly_inventory.queries.ledger import MovementFilter, stream_movements
from orderly_inventory.settings import InventorySettings
from orderly_kit.audit import Actor
from orderly_kit.cli import operator_name
from orderly_kit.service import Service


async def reconcile(service: Service, args: list[str]) -> int:
    """Check every stock level against the sum of its ledger movements; 1 if any differs."""
    del args
    try:
        async with service.database.sessions() as s:
            found = await StockRepository(s).discrepancies()
    finally:
        await service.database.dispose()
    for d in found:
        print(f"DIFFERS {d}")
    print(
        "reconcile: every stock level agrees with the ledger"
        if not found
        else f"reconcile: {len(found)} stock level field(s) disagree with the ledger"
    )
    return 1 if found else 0


# -- ERP connectors -----------------------------------------------------------------------
def _import_parser(command: str, what: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"inventory {command}",
        description=f"Import {what} from an ERP file, all or nothing (CSV with a header row,"
        " or a JSON array of row objects).",
    )
    parser.add_argument("file", type=Path, help="a .csv or .json file")
    parser.add_argument(
        "--format", choices=[f.value for f in ImportFormat], help="default: the file's extension"
    )
    return parser


def _read_import(ns: argparse.Namespace, max_bytes: int) -> tuple[bytes, ImportFormat] | None:
    fmt = ns.format or ns.file.suffix.lower().removeprefix(".")
    if fmt not in {f.value for f in ImportFormat}:
        print(f"error: say --format csv or json for {ns.file}", file=sys.stderr)
        return None
    try:
        size = ns.file.stat().st_size
        if size > max_bytes:
            print(
                f"error: {ns.file} has {size} bytes, more than the {max_bytes} one import takes"
                " (INVENTORY_IMPORT_MAX_BYTES): split it into several files",
                file=sys.stderr,
            )
            return None
        return ns.file.read_bytes(), ImportFormat(fmt)
    except OSError as exc:
        print(f"error: cannot read {ns.file}: {exc.strerror}", file=sys.stderr)
        return None


def _print_rejected(error: use_cases.catalogue.ImportRejectedError) -> None:
    for r in error.rejected:
        where = f"row {r.row}" + (f" (line {r.line})" if r.line else "")
        value = f" [{r.value!r}]" if r.value is not None else ""
        print(f"REJECTED {where} {r.field}{value}: {r.reason}")
    print(f"import: {error}")


async def import_products(service: Service, args: list[str]) -> int:
    """``import-products <file>``: create or replace products; 1 if any row is rejected."""
    ns = _import_parser("import-products", "products").parse_args(args)
    settings = service.settings
    assert isinstance(settings, InventorySettings)
    read = _read_import(ns, settings.import_max_bytes)
    if read is None:
        return 2
    try:
        parsed = read_products(*read, max_rows=settings.import_max_rows)
        async with service.messaging.unit_of_work() as uow:
            done = await use_cases.catalogue.import_products(
                uow, parsed, actor=Actor.operator(operator_name())
            )
    except ImportFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except use_cases.catalogue.ImportRejectedError as exc:
        _print_rejected(exc)
        return 1
    finally:
        await service.database.dispose()
    print(
        f"import-products: {done.rows} rows: {done.created} created, {done.updated} updated,"
        f" {done.unchanged} unchanged"
    )
    return 0


async def import_stock(service: Service, args: list[str]) -> int:
    """``import-stock <file>``: set opening stock; 1 if any row is rejected."""
    parser = _import_parser("import-stock", "opening stock (and safety stock)")
    parser.add_argument("--actor", default=operator_name(), help="who imports (default: $USER)")
    parser.add_argument("--reference", help="recorded on each movement, e.g. the ERP batch")
    ns = parser.parse_args(args)
    settings = service.settings
    assert isinstance(settings, InventorySettings)
    read = _read_import(ns, settings.import_max_bytes)
    if read is None:
        return 2
    try:
        parsed = read_opening_stock(*read, max_rows=settings.import_max_rows)
        async with service.messaging.unit_of_work() as uow:
            done = await use_cases.catalogue.import_opening_stock(
                uow, parsed, actor=Actor.operator(ns.actor), reference=ns.reference
            )
    except ImportFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except use_cases.catalogue.ImportRejectedError as exc:
        _print_rejected(exc)
        return 1
    finally:
        await service.database.dispose()
    print(
        f"import-stock: {done.rows} rows: {done.levels_created} levels created,"
        f" {done.movements} opening movements, {done.safety_stock_changed} safety stocks"
        f" changed, {done.unchanged} unchanged"
    )
    return 0


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None


async def export_movements(service: Service, args: list[str]) -> int:
    """``export-movements --from --to``: the ledger of a period to stdout, in id order."""
    parser = argparse.ArgumentParser(
        prog="inventory export-movements",
        description="Every stock movement of a period (from inclusive, to exclusive).",
    )
    parser.add_argument("--from", dest="since", type=_moment, required=True)
    parser.add_argument("--to", dest="until", type=_moment, required=True)
    parser.add_argument("--format", choices=[f.value for f in ExportFormat], default="csv")
    parser.add_argument("--warehouse")
    parser.add_argument("--sku")
    ns = parser.parse_args(args)
    settings = service.settings
    assert isinstance(settings, InventorySettings)
    try:
        formats.ledger.check_period(ns.since, ns.until, max_days=settings.export_max_days)
    except formats.ledger.PeriodError as exc:
        print(f"error: --{exc.field}: {exc}", file=sys.stderr)
        return 2
    where = MovementFilter(sku=ns.sku, warehouse=ns.warehouse, since=ns.since, until=ns.until)
    try:
        async for chunk in formats.ledger.render(
            stream_movements(service.database.engine, where), ExportFormat(ns.format)
        ):
            sys.stdout.write(chunk)
        sys.stdout.flush()
    finally:
        await service.database.dispose()
    return 0
