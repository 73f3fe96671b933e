"""``python -m orderly_notification [serve|migrate|asyncapi]``."""

from __future__ import annotations

from orderly_kit import cli
from orderly_notification.bootstrap import build


def main() -> int:
    return cli.main(build)


if __name__ == "__main__":
    raise SystemExit(main())
