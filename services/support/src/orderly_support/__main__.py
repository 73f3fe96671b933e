"""``python -m orderly_support [serve|migrate|asyncapi|dead-letters|cases|customers]``."""

from __future__ import annotations

from orderly_kit import cli
from orderly_support.bootstrap import build
from orderly_support.entrypoints.cli import cases, customers


def main() -> int:
    return cli.main(build, commands={"cases": cases, "customers": customers})


if __name__ == "__main__":
    raise SystemExit(main())
