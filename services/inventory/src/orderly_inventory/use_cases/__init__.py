"""The inventory service's use cases, one module per capability.

Each function runs in the caller's unit of work (one transaction with the inbox and
outbox), decides through ``domain/`` and publishes the events that decision causes.
"""

from orderly_inventory.use_cases import (
    catalogue,
    fulfilment,
    ledger,
    receiving,
    replacements,
    returns,
    stock,
    stocktakes,
    tracking,
    transfers,
)

__all__ = [
    "catalogue",
    "fulfilment",
    "ledger",
    "receiving",
    "replacements",
    "returns",
    "stock",
    "stocktakes",
    "tracking",
    "transfers",
]
