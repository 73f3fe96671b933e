"""``python -m orderly_order [serve|migrate|asyncapi|sagas]``."""

from __future__ import annotations

from orderly_kit import cli
from orderly_order.bootstrap import build
from orderly_order.entrypoints.cli import sagas


def main() -> int:
    return cli.main(build, commands={"sagas": sagas})


if __name__ == "__main__":
    raise SystemExit(main())
