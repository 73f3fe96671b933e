"""Replacements in PostgreSQL, in the caller's transaction (lock order: see ``adapters``).

A replacement is kept under its id with the stock it took (``replacement_reservations``,
whose status follows the replacement's: reserved while it is picked, shipped once it left,
released if it was refused at hand-over) and the address it ships to, sealed under the
customer's key as a picking keeps it. Its parcels are ``shipments`` rows
(``adapters.shipments``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_inventory.adapters.orm import customer_keys, replacement_reservations, replacements
from orderly_inventory.adapters.personal_data import ShipTo, open_ship_to
from orderly_inventory.domain.allocation import Pick
from orderly_inventory.domain.replacements import SENT, Replacement, ReplacementStatus
from orderly_inventory.domain.shipments import ParcelLine
from orderly_kit import pages
from orderly_kit.personal_data import Vault
from orderly_schemas.cloudevents import Envelope

#: A replacement's row, with its customer's wrapped data key beside it.
_WITH_KEY = select(
    replacements,
    customer_keys.c.key_id.label("pd_key_id"),
    customer_keys.c.wrapped_key.label("pd_wrapped_key"),
).select_from(
    replacements.outerjoin(customer_keys, customer_keys.c.customer_id == replacements.c.customer_id)
)


def _stock_status(status: ReplacementStatus) -> str:
    """The status of the stock a replacement in ``status`` took."""
    if status is ReplacementStatus.PICKING:
        return "reserved"
    return "shipped" if status in SENT else "released"


def _to_replacement(row: Any, picks: Sequence[Pick]) -> Replacement:
    return Replacement(
        replacement_id=row["replacement_id"],
        order_id=row["order_id"],
        lines=tuple(ParcelLine(ln["sku"], ln["quantity"]) for ln in row["lines"]),
        reason=row["reason"],
        status=ReplacementStatus(row["status"]),
        requested_at=row["requested_at"],
        updated_at=row["updated_at"],
        picks=tuple(picks),
        due_at=row["due_at"],
        refusal=row["refusal"],
        short_skus=tuple(row["short_skus"] or ()),
    )


class ReplacementRepository:
    """``vault`` opens the addresses replacements keep sealed (needed only to read them)."""

    def __init__(self, session: AsyncSession, *, vault: Vault | None = None) -> None:
        self.session = session
        self.vault = vault

    async def replacement_of(self, replacement_id: UUID) -> Replacement | None:
        """The replacement, if a ShipReplacement of it was decided."""
        query = select(replacements).where(replacements.c.replacement_id == replacement_id)
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        return _to_replacement(row, (await self._picks([replacement_id])).get(replacement_id, []))

    async def replacements_of(
        self, order_id: UUID, *, limit: int, before: tuple[datetime, UUID] | None = None
    ) -> list[Replacement]:
        """The order's replacements, newest first, up to ``limit``; ``before``: after the one
        with that (requested_at, replacement_id) in this order."""
        c = replacements.c
        query = (
            select(replacements)
            .where(c.order_id == order_id)
            .order_by(c.requested_at.desc(), c.replacement_id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(pages.older_than((c.requested_at, c.replacement_id), before))
        rows = (await self.session.execute(query)).mappings().all()
        picks = await self._picks([r["replacement_id"] for r in rows])
        return [_to_replacement(r, picks.get(r["replacement_id"], [])) for r in rows]

    async def _picks(self, replacement_ids: Collection[UUID]) -> dict[UUID, list[Pick]]:
        if not replacement_ids:
            return {}
        c = replacement_reservations.c
        query = (
            select(c.replacement_id, c.sku, c.warehouse, c.quantity)
            .where(c.replacement_id.in_(list(replacement_ids)))
            .order_by(c.replacement_id, c.sku, c.warehouse)
        )
        found: dict[UUID, list[Pick]] = {}
        for replacement_id, sku, warehouse, quantity in await self.session.execute(query):
            found.setdefault(replacement_id, []).append(Pick(sku, warehouse, quantity))
        return found

    async def add(
        self, replacement: Replacement, *, ship_to: ShipTo | None, cause: Envelope | None
    ) -> None:
        """Keep a replacement just decided, its stock, and its address as ``ship_to`` came:
        sealed, or in plaintext (a producer that does not seal) only while it is picked; a
        refused one keeps none. ``cause`` (the ShipReplacement) becomes the cause of its
        hand-over's answer."""
        r = replacement
        if r.status is ReplacementStatus.REFUSED:
            ship_to = None
        sealed = None if ship_to is None else ship_to.sealed
        unsealed = None if ship_to is None or sealed is not None else ship_to.address
        plaintext = None
        if unsealed is not None and r.status is ReplacementStatus.PICKING:
            plaintext = unsealed.model_dump(mode="json")
        await self.session.execute(
            insert(replacements).values(
                replacement_id=r.replacement_id,
                order_id=r.order_id,
                status=r.status.value,
                lines=[{"sku": ln.sku, "quantity": ln.quantity} for ln in r.lines],
                reason=r.reason,
                refusal=None if r.refusal is None else r.refusal[:2000],
                short_skus=list(r.short_skus),
                requested_at=r.requested_at,
                updated_at=r.updated_at,
                due_at=r.due_at,
                customer_id=None if ship_to is None else ship_to.customer_id,
                ship_to_sealed=sealed,
                ship_to=plaintext,
                command_headers=None if cause is None else cause.to_headers(),
            )
        )
        if r.picks:
            await self.session.execute(
                insert(replacement_reservations),
                [
                    {
                        "replacement_id": r.replacement_id,
                        "sku": p.sku,
                        "warehouse": p.warehouse,
                        "quantity": p.quantity,
                        "status": _stock_status(r.status),
                    }
                    for p in r.picks
                ],
            )

    async def save(self, replacement: Replacement) -> None:
        """Keep what became of a replacement (and of its stock); a plaintext address is
        dropped once it is no longer being picked, and a refused one keeps none."""
        r = replacement
        c = replacements.c
        values: dict[str, Any] = {
            "status": r.status.value,
            "refusal": None if r.refusal is None else r.refusal[:2000],
            "updated_at": r.updated_at,
        }
        if r.status is not ReplacementStatus.PICKING:
            values["ship_to"] = None
        if r.status is ReplacementStatus.REFUSED:
            values |= {"customer_id": None, "ship_to_sealed": None}
        await self.session.execute(
            update(replacements).where(c.replacement_id == r.replacement_id).values(**values)
        )
        s = replacement_reservations.c
        await self.session.execute(
            update(replacement_reservations)
            .where(s.replacement_id == r.replacement_id)
            .values(status=_stock_status(r.status))
        )

    async def claim_due(
        self, *, now: datetime, passing_over: Collection[UUID] = ()
    ) -> tuple[Replacement, ShipTo, Envelope | None] | None:
        """The replacement being picked due soonest that no other transaction holds, locked;
        with its address (opened: None once the customer was erased) and its command's
        envelope. ``passing_over``: replacements this scan already found busy."""
        if self.vault is None:
            raise RuntimeError("a replacement's sealed address needs the service's vault to open")
        c = replacements.c
        query = (
            _WITH_KEY.where(c.status == ReplacementStatus.PICKING.value, c.due_at <= now)
            .order_by(c.due_at, c.replacement_id)
            .limit(1)
            .with_for_update(of=replacements, skip_locked=True)
        )
        if passing_over:
            query = query.where(c.replacement_id.not_in(list(passing_over)))
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        picks = (await self._picks([row["replacement_id"]])).get(row["replacement_id"], [])
        ship_to = open_ship_to(
            self.vault,
            customer_id=row["customer_id"],
            sealed=row["ship_to_sealed"],
            plaintext=row["ship_to"],
            key_id=row["pd_key_id"],
            wrapped_key=row["pd_wrapped_key"],
        )
        headers = row["command_headers"]
        cause = None if headers is None else Envelope.from_headers(headers)
        return _to_replacement(row, picks), ship_to, cause
