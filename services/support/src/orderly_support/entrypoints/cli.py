"""Operator commands: the cases that missed an agreement, for whoever is on call; and the
customers' words kept in plaintext by rows written before sealing.

    python -m orderly_support cases breached [--status open] [--limit 100] [--json]
    python -m orderly_support customers seal-legacy
    python -m orderly_support customers rotate-keys [--operator NAME]

``cases breached``: newest opened first, each with its status, category, assignee and which
agreement it missed when; ``--status`` keeps one status (repeatable). ``customers
seal-legacy`` seals those texts in batches (run it once after upgrading; a second run
finds nothing); ``rotate-keys`` is the kit's, as in every service that keeps personal data.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import get_args

from orderly_kit import cli
from orderly_kit.service import Service
from orderly_schemas.support import CaseStatus
from orderly_support import queries, use_cases
from orderly_support.queries.cases import CaseSummary


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orderly_support cases", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    breached = sub.add_parser("breached", help="cases that missed an agreement")
    breached.add_argument("--status", action="append", choices=get_args(CaseStatus))
    breached.add_argument("--limit", type=int, default=100)
    breached.add_argument("--json", action="store_true")
    return parser


async def cases(service: Service, argv: list[str]) -> int:
    """The ``cases`` command."""
    args = _parser().parse_args(argv)
    vault = service.messaging.vault
    assert vault is not None, "the support service is built with its customer_keys"
    try:
        async with service.database.sessions() as session:
            found = await queries.cases.page(session, breached=True, limit=args.limit, vault=vault)
    finally:
        await service.database.dispose()
    found = [c for c in found if not args.status or c.status in args.status]
    if args.json:
        json.dump([c.model_dump(mode="json") for c in found], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not found:
        print("no case has missed an agreement")
        return 0
    print(f"{'case':<12} {'status':<20} {'category':<13} {'assignee':<16} missed")
    for c in found:
        print(
            f"{c.case_number:<12} {c.status:<20} {c.category:<13} {c.assignee or '-':<16}"
            f" {_missed(c)}"
        )
    return 0


def _missed(case: CaseSummary) -> str:
    sla = case.sla
    missed = [
        f"{name} due {due:%Y-%m-%d %H:%M}"
        for name, due, breached in (
            ("first response", sla.first_response_due_at, sla.first_response_breached_at),
            ("resolution", sla.resolution_due_at, sla.resolution_breached_at),
        )
        if breached is not None
    ]
    return "; ".join(missed)


async def customers(service: Service, argv: list[str]) -> int:
    """The ``customers`` command: the kit's, with ``seal-legacy``."""
    return await cli.customers(service, argv, seal_legacy=use_cases.customers.seal_legacy)
