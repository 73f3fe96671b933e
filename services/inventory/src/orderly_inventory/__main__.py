"""``python -m orderly_inventory [serve|migrate|asyncapi|seed-demo|reconcile|import-products|
import-stock|export-movements]``."""

from __future__ import annotations

from orderly_inventory.bootstrap import build
from orderly_inventory.entrypoints.cli import (
    export_movements,
    import_products,
    import_stock,
    reconcile,
)
from orderly_inventory.seed import seed_demo
from orderly_kit import cli


def main() -> int:
    return cli.main(
        build,
        commands={
            "seed-demo": seed_demo,
            "reconcile": reconcile,
            "import-products": import_products,
            "import-stock": import_stock,
            "export-movements": export_movements,
        },
    )


if __name__ == "__main__":
    raise SystemExit(main())
