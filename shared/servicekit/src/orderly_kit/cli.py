"""The command line every service shares: serve, migrate, asyncapi."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import uvicorn

from orderly_kit import migrations
from orderly_kit.service import Service

Command = Callable[[Service, list[str]], Coroutine[Any, Any, int]]


def main(
    build: Callable[[], Service],
    *,
    commands: dict[str, Command] | None = None,
    argv: list[str] | None = None,
) -> int:
    """Run ``serve`` (default), ``migrate``, ``asyncapi`` or a service's own command."""
    extra = commands or {}
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "asyncapi", *extra]
    )
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    service = build()
    if ns.command == "serve":
        s = service.settings
        uvicorn.run(
            service.http,
            host=s.http_host,
            port=s.http_port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
        return 0
    if ns.command == "migrate":
        migrations.upgrade(service.migrations_dir, service.settings.database_url)
        return 0
    if ns.command == "asyncapi":
        service._finish_subscribers()
        json.dump(service.asyncapi().to_specification().to_jsonable(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if service.settings.migrate_on_start:
        migrations.upgrade(service.migrations_dir, service.settings.database_url)
    return asyncio.run(extra[ns.command](service, ns.args))
