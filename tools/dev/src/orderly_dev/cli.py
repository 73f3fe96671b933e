"""``orderly-dev``: the local stack's commands (run, makemigration)."""

from __future__ import annotations

import argparse
import importlib

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orderly-dev")
    sub = parser.add_subparsers(dest="command", required=True)
    mm = sub.add_parser("makemigration", help="autogenerate a service migration")
    mm.add_argument("service", choices=sorted(SERVICES))
    mm.add_argument("message")
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
    if ns.command == "makemigration":
        return makemigration(ns.service, ns.message)
    if ns.command == "run":
        from orderly_dev.demo import main as demo_main

        return int(demo_main(rest))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
