"""Files in and out: the catalogue's import formats and the ledger's export formats."""

from orderly_inventory.formats import catalogue, ledger

__all__ = ["catalogue", "ledger"]
