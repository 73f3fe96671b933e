"""``orderly-dev``: the local stack's commands (run, token, makemigration)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

import httpx

from orderly_dev.servers import start_servers
from orderly_dev.stack import SERVICES


def makemigration(service: str, message: str) -> int:
    """Autogenerate a migration for ``service`` against a scratch embedded PostgreSQL."""
    from alembic import command

    from orderly_kit.migrations import alembic_config

    spec = SERVICES[service]
    bootstrap = importlib.import_module(f"{spec.package}.bootstrap")
    servers = start_servers()
    try:
        servers.postgres.create_database("scratch", drop=True)
        cfg = alembic_config(bootstrap.MIGRATIONS, servers.postgres.url("scratch"))
        command.upgrade(cfg, "heads")
        # The service's own branch (orderly_kit.migrations): the kit's is written by hand.
        command.revision(cfg, message=message, autogenerate=True, head=f"{spec.package}@head")
    finally:
        servers.stop()
    return 0


def token(issuer: str, roles: str, sub: str, customer_id: str | None, ttl: int) -> int:
    """Print an access token from the running development issuer (make run starts it)."""
    form = {"role": roles, "sub": sub, "ttl": str(ttl)}
    if customer_id:
        form["customer_id"] = customer_id
    try:
        r = httpx.post(f"{issuer.rstrip('/')}/token", data=form, timeout=5)
    except httpx.HTTPError as exc:
        print(
            f"no development issuer answers at {issuer} ({exc}); is make run running?",
            file=sys.stderr,
        )
        return 1
    if r.status_code != 200:
        print(f"the issuer refused: {r.json().get('error_description', r.text)}", file=sys.stderr)
        return 2
    print(r.json()["access_token"])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orderly-dev")
    sub = parser.add_subparsers(dest="command", required=True)
    mm = sub.add_parser("makemigration", help="autogenerate a service migration")
    mm.add_argument("service", choices=sorted(SERVICES))
    mm.add_argument("message")
    tk = sub.add_parser(
        "token",
        help="an access token from make run's development issuer, e.g."
        " orderly-dev token --role support --sub alice",
    )
    tk.add_argument(
        "--role",
        required=True,
        help="customer, support, warehouse, finance, admin, checkout or metrics"
        " (several: comma-separated)",
    )
    tk.add_argument("--sub", default="dev", help="the subject: who the token names")
    tk.add_argument("--customer-id", help="for a customer: whose orders (default: --sub)")
    tk.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid")
    tk.add_argument(
        "--issuer",
        default=os.environ.get("ORDERLY_AUTH_ISSUER", "http://127.0.0.1:8700"),
        help="the development issuer (default: ORDERLY_AUTH_ISSUER, else make run's)",
    )
    sub.add_parser(
        "run",
        help="the whole suite with a demo checkout (make run); options after it are the"
        " demo's own (--orders, --rate, --exit-after ...)",
        add_help=False,
    )
    # The demo parses its own options (so `run -h` shows them); anything else is an error.
    ns, rest = parser.parse_known_args(argv)
    if ns.command != "run" and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if ns.command == "token":
        return token(ns.issuer, ns.role, ns.sub, ns.customer_id, ns.ttl)
    if ns.command == "makemigration":
        return makemigration(ns.service, ns.message)
    if ns.command == "run":
        from orderly_dev.demo import main as demo_main

        return int(demo_main(rest))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
