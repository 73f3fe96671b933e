"""Operator commands for sagas: list the stuck ones, retry a step, force compensation.

    python -m orderly_order sagas stuck [--older-than 15m] [--status paid] [--json]
    python -m orderly_order sagas retry ORD-0000042 --reason "payment service was down"
    python -m orderly_order sagas compensate ORD-0000042 --reason "customer asked by phone"

Every action is written to ``saga_operator_actions`` (who, what, why, the
messages sent), to the order's status history and to the audit log (``saga.retry``,
``saga.compensate``), in the transaction that acts.

    python -m orderly_order customers erase C00042
    python -m orderly_order customers rotate-keys
    python -m orderly_order customers seal-legacy

``erase`` destroys the customer's data key (their name, email and addresses no longer
open anywhere, backups included); ``rotate-keys`` re-wraps every data key with
``ORDER_DATA_KEY_ID``'s key (then the old key can leave ``ORDER_DATA_KEYS``);
``seal-legacy`` seals what orders placed before sealing keep in plaintext. An erasure
and each batch of re-wrapped keys are in the audit log (``customer.erase``,
``data_key.rotate``), under ``--operator`` (default: $USER).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta

from orderly_kit import cli
from orderly_kit.audit import Actor
from orderly_kit.cli import operator_name
from orderly_kit.service import Service
from orderly_order import queries, use_cases
from orderly_order.domain.order import AWAITING, OrderStateError, Status
from orderly_order.settings import OrderSettings

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``2h`` or ``1d`` as a timedelta."""
    found = _DURATION.match(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(
            f"--older-than: {text!r} is not a duration such as 90s, 15m, 2h or 1d"
        )
    return timedelta(seconds=float(found[1]) * _UNITS[found[2]])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orderly_order sagas", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    stuck = sub.add_parser("stuck", help="sagas in one state for longer than a threshold")
    stuck.add_argument("--older-than", type=duration, default=timedelta(minutes=15))
    watched = [s.value for s in (*AWAITING, Status.NEEDS_ATTENTION)]
    stuck.add_argument("--status", action="append", choices=watched)
    stuck.add_argument("--limit", type=int, default=100)
    stuck.add_argument("--json", action="store_true")
    for name, text in (
        ("retry", "send the current step's commands again"),
        ("compensate", "give up before shipment: release stock, refund or void"),
    ):
        act = sub.add_parser(name, help=text)
        act.add_argument("order", help="an order number or order id")
        act.add_argument("--reason", required=True, help="why (kept in the audit trail)")
        act.add_argument("--operator", default=None, help="who (default: $USER)")
    return parser


async def sagas(service: Service, argv: list[str]) -> int:
    """The ``sagas`` command."""
    args = _parser().parse_args(argv)
    settings = service.settings
    assert isinstance(settings, OrderSettings)
    try:
        if args.action == "stuck":
            return await _stuck(service, args)
        return await _act(service, args, settings)
    finally:
        await service.database.dispose()


async def _stuck(service: Service, args: argparse.Namespace) -> int:
    statuses = [Status(s) for s in args.status] if args.status else [*AWAITING]
    async with service.database.sessions() as session:
        found = await queries.sagas.stuck_sagas(
            session,
            since_before=datetime.now(UTC) - args.older_than,
            statuses=statuses,
            limit=args.limit,
        )
    if args.json:
        json.dump([_as_json(s) for s in found], sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    if not found:
        print(f"no saga has waited longer than {args.older_than}")
        return 0
    now = datetime.now(UTC)
    print(f"{'order':<14} {'status':<16} {'waiting for':<22} {'for':>10} {'re-sent':>7}  pending")
    for s in found:
        waited = str(now - s.status_since).split(".")[0]
        pending = ", ".join(s.pending_compensations) or "-"
        print(
            f"{s.order_number:<14} {s.status:<16} {s.awaiting or '-':<22} {waited:>10}"
            f" {s.resends:>7}  {pending}"
        )
    return 0


def _as_json(s: queries.sagas.StuckSaga) -> dict[str, object]:
    return {
        "order_id": str(s.order_id),
        "order_number": s.order_number,
        "status": s.status,
        "awaiting": s.awaiting,
        "status_since": s.status_since.isoformat(),
        "deadline_at": s.deadline_at.isoformat() if s.deadline_at else None,
        "resends": s.resends,
        "pending_compensations": s.pending_compensations,
        "cancel_reason": s.cancel_reason,
    }


async def _act(service: Service, args: argparse.Namespace, settings: OrderSettings) -> int:
    operator = args.operator or operator_name()
    async with service.database.sessions() as session:
        order_id = await queries.orders.order_id_for(session, args.order)
    if order_id is None:
        print(f"error: no order {args.order!r}", file=sys.stderr)
        return 2
    act = (
        use_cases.orders.retry_saga_step
        if args.action == "retry"
        else use_cases.orders.force_compensation
    )
    try:
        async with service.messaging.unit_of_work() as uow:
            order = await act(
                uow, order_id, operator=operator, reason=args.reason, timeouts=settings.timeouts()
            )
    except OrderStateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{order.order_number}: {args.action} done by {operator}; now {order.status.value}")
    return 0


def _customers_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orderly_order customers")
    sub = parser.add_subparsers(dest="action", required=True)
    erase = sub.add_parser("erase", help="destroy a customer's personal data (their data key)")
    erase.add_argument("customer_id")
    erase.add_argument("--operator", default=None, help="who (default: $USER)")
    rotate = sub.add_parser("rotate-keys", help="re-wrap every data key with the active key")
    rotate.add_argument("--operator", default=None, help="who (default: $USER)")
    sub.add_parser("seal-legacy", help="seal the plaintext personal data of older orders")
    return parser


async def customers(service: Service, argv: list[str]) -> int:
    """The ``customers`` command."""
    args = _customers_parser().parse_args(argv)
    if args.action == "rotate-keys":  # as in every service that keeps personal data
        return await cli.customers(service, argv)
    operator = Actor.operator(getattr(args, "operator", None) or operator_name())
    try:
        if args.action == "erase":
            try:
                async with service.messaging.unit_of_work() as uow:
                    erased = await use_cases.customers.erase_customer(
                        uow, args.customer_id, operator=operator
                    )
            except use_cases.customers.CustomerHasOrdersInProgressError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            what = "data key destroyed" if erased.key_destroyed else "no data key was held"
            print(f"customer {erased.customer_id} erased ({what}; {erased.orders} order(s))")
            return 0
        total = 0
        while True:
            async with service.messaging.unit_of_work() as uow:
                done = await use_cases.customers.seal_legacy(uow)
            total += done
            if done == 0:
                break
        print(f"{args.action}: {total} done")
        return 0
    finally:
        await service.database.dispose()
