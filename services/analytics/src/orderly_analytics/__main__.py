"""``python -m orderly_analytics [serve|migrate|asyncapi]``."""

from __future__ import annotations

from orderly_analytics.bootstrap import build
from orderly_kit import cli


def main() -> int:
    return cli.main(build)


if __name__ == "__main__":
    raise SystemExit(main())
