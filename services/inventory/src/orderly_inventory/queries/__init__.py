"""The inventory service's reads for the HTTP API and exports, one module per capability."""

from orderly_inventory.queries import catalogue, ledger, stock, tracking

__all__ = ["catalogue", "ledger", "stock", "tracking"]
