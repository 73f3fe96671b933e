"""``python -m orderly_inventory [serve|migrate|asyncapi]``."""

from __future__ import annotations

from orderly_kit import cli
from orderly_inventory.bootstrap import build


def main() -> int:
    return cli.main(build)


if __name__ == "__main__":
    raise SystemExit(main())
