"""The inventory service's reads for the HTTP API and exports, one module per capability."""

from orderly_inventory.queries import catalogue, ledger, replacements, stock, tracking

__all__ = ["catalogue", "ledger", "replacements", "stock", "tracking"]
