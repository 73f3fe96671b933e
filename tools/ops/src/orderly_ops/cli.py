"""``orderly-ops``: operator commands that look across the services' databases.

    orderly-ops invariants [--since 2026-11-25T10:00Z] [--settle 60] [--baseline snap.json]
    orderly-ops payments [--since 2026-11-25T10:00Z] [--settle 60]
    orderly-ops stock-snapshot > snap.json
    orderly-ops audit verify [--service order] [--anchor order=1234:<hash>]

`payments` checks only the payment invariants: it lists each order whose payment
ledger disagrees with the saga, and reads the order and payment databases alone.
The database URLs come from the services' own variables (ORDER_DATABASE_URL,
INVENTORY_DATABASE_URL, PAYMENT_DATABASE_URL, and optionally
NOTIFICATION_DATABASE_URL, ANALYTICS_DATABASE_URL) or from --<service>-db.
`audit verify` walks each service's audit log (every service's, or --service's) and
names the first row changed, removed or inserted; it prints each head (id and hash) to
keep elsewhere and check later with --anchor (see orderly_ops.audit).
Exit status: 0 when every invariant holds (every chain is intact), 1 when one is broken,
2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

from orderly_ops import audit
from orderly_ops.invariants import (
    SERVICES,
    Databases,
    Report,
    check,
    check_payments,
    database_urls,
    stock_snapshot,
)


def _env(args: argparse.Namespace) -> dict[str, str]:
    """The environment, with each --<service>-db given in place of its variable."""
    env = dict(os.environ)
    for service in SERVICES:
        given = getattr(args, f"{service}_db")
        if given:
            env[f"{service.upper()}_DATABASE_URL"] = given
    return env


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since: {text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"--since: {text!r} needs a timezone, e.g. Z")
    return moment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="orderly-ops",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for service in SERVICES:
        parser.add_argument(f"--{service}-db", metavar="URL", help=f"the {service} database")
    sub = parser.add_subparsers(dest="command", required=True)
    inv = sub.add_parser("invariants", help="check the suite's invariants")
    inv.add_argument("--since", type=_since, help="only orders placed since then")
    inv.add_argument(
        "--settle", type=float, default=0.0, help="ignore what changed in the last N seconds"
    )
    inv.add_argument("--baseline", type=Path, help="a stock-snapshot file taken before")
    inv.add_argument("--json", action="store_true")
    pay = sub.add_parser(
        "payments",
        help="check each order's payment ledger against its saga, and the money balance"
        " (order and payment databases only)",
    )
    pay.add_argument("--since", type=_since, help="only orders placed since then")
    pay.add_argument(
        "--settle", type=float, default=0.0, help="ignore orders that changed in the last N seconds"
    )
    pay.add_argument("--json", action="store_true")
    sub.add_parser(
        "stock-snapshot",
        help="per SKU, on hand + in transit + shipped less the ledger's other inflows, as JSON",
    )
    aud = sub.add_parser("audit", help="the services' audit logs")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True)
    ver = aud_sub.add_parser(
        "verify", help="find a changed, removed or inserted row in each audit log's chain"
    )
    ver.add_argument("--service", choices=SERVICES, help="only this service's log")
    ver.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="SERVICE=ID:HASH",
        help="a head printed before: that row must still have that hash (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.command == "audit":
        return _verify_audit(args)
    try:
        if args.command == "payments":
            urls = database_urls(_env(args), ("order", "payment"))
        else:
            dbs = Databases.from_env(_env(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "stock-snapshot":
        json.dump(stock_snapshot(dbs), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    settle = timedelta(seconds=args.settle)
    if args.command == "payments":
        report = check_payments(**urls, since=args.since, settle=settle)
    else:
        baseline = json.loads(args.baseline.read_text()) if args.baseline else None
        report = check(dbs, baseline=baseline, since=args.since, settle=settle)
    _print(report, as_json=args.json)
    return 0 if report.ok else 1


def _verify_audit(args: argparse.Namespace) -> int:
    services = [args.service] if args.service else list(SERVICES)
    try:
        urls = database_urls(_env(args), services)
        anchors = {a.service: a for a in map(audit.Anchor.parse, args.anchor)}
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if unknown := sorted(set(anchors) - set(urls)):
        print(f"error: --anchor for a service not verified: {', '.join(unknown)}", file=sys.stderr)
        return 2
    checks = audit.verify_all(urls, anchors)
    for service, chain in checks.items():
        print(audit.summary(service, chain))
    return 0 if all(chain.ok for chain in checks.values()) else 1


def _print(report: Report, *, as_json: bool) -> None:
    if as_json:
        out = {
            "ok": report.ok,
            "checked": report.checked,
            "violations": [asdict(v) for v in report.violations],
            "stats": report.stats,
        }
        json.dump(out, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(report.summary())


if __name__ == "__main__":
    raise SystemExit(main())
