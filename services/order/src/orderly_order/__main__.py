"""``python -m orderly_order [serve|migrate|asyncapi|sagas|customers]``."""

from __future__ import annotations

from orderly_kit import cli
from orderly_order.bootstrap import build
from orderly_order.entrypoints.cli import customers, sagas


def main() -> int:
    return cli.main(build, commands={"sagas": sagas, "customers": customers})


if __name__ == "__main__":
    raise SystemExit(main())
