"""Operator commands of the inventory service (``python -m orderly_inventory <command>``)."""

from __future__ import annotations

from orderly_inventory.adapters.repository import InventoryRepository
from orderly_kit.service import Service


async def reconcile(service: Service, args: list[str]) -> int:
    """Check every stock level against the sum of its ledger movements; 1 if any differs."""
    del args
    try:
        async with service.database.sessions() as s:
            found = await InventoryRepository(s).discrepancies()
    finally:
        await service.database.dispose()
    for d in found:
        print(f"DIFFERS {d}")
    print(
        "reconcile: every stock level agrees with the ledger"
        if not found
        else f"reconcile: {len(found)} stock level field(s) disagree with the ledger"
    )
    return 1 if found else 0
