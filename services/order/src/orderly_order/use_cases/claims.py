"""Claims: support settles an order whose parcel was lost or damaged in transit, and the
replacement shipment's answers carry the order on (``domain.claims``).

A claim's refund is the order's compensating refund under the claim's refund id, so
PaymentRefunded and RefundFailed reach it through ``use_cases.orders`` like any other.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from orderly_kit.audit import Actor
from orderly_kit.messaging import UnitOfWork
from orderly_order.adapters.claims import ClaimRepository, Claims
from orderly_order.domain.claims import Claim, follows
from orderly_order.domain.order import Timeouts
from orderly_order.use_cases.orders import apply_step, flush_order
from orderly_schemas.inventory import (
    ReplacementDelivered,
    ReplacementFailed,
    ReplacementRefused,
    ReplacementShipped,
)
from orderly_schemas.order import ClaimKind, ClaimResolution


def _repo(uow: UnitOfWork, caused_by: str | None = None) -> Claims:
    return uow.repository(
        lambda u: ClaimRepository(u.session, vault=u.vault, clock=u.now, caused_by=caused_by)
    )


async def open_claim(
    uow: UnitOfWork,
    order_id: UUID,
    *,
    kind: ClaimKind,
    resolution: ClaimResolution,
    staff: Actor,
    timeouts: Timeouts,
) -> Claim | None:
    """Support settles the order's lost or damaged shipment with a reshipment or a refund;
    None if there is no such order. Raises OrderStateError unless the order needs attention
    after its goods left (``Order.claimable``); audited."""
    repo = _repo(uow, caused_by=f"claim:{staff.name}")
    order = await repo.order_held(order_id)
    if order is None:
        return None
    now = uow.now()
    before = order.status
    claim = Claim(
        claim_id=uuid4(),
        claim_number=await repo.next_claim_number(),
        order_id=order_id,
        kind=kind,
        resolution=resolution,
        opened_by=staff.name,
        opened_at=now,
        replacement_id=uuid4() if resolution == "reshipment" else None,
    )
    order.settle_claim(
        claim_id=claim.claim_id,
        claim_number=claim.claim_number,
        kind=kind,
        resolution=resolution,
        opened_by=staff.name,
        replacement_id=claim.replacement_id,
        now=now,
        timeouts=timeouts,
    )
    await repo.add(claim, follows(order.status))
    await flush_order(uow, repo.orders, order)
    await uow.audit(
        actor=staff,
        action="claim.open",
        target=f"order:{order_id}",
        before={"status": before},
        after={
            "status": order.status,
            "claim": claim.claim_number,
            "kind": kind,
            "resolution": resolution,
        },
    )
    return claim


async def record_replacement_shipped(
    uow: UnitOfWork, event: ReplacementShipped, *, timeouts: Timeouts
) -> None:
    carrier = event.parcels[0].carrier
    tracking = [p.tracking_number for p in event.parcels]
    await apply_step(
        uow,
        event.order_id,
        "ReplacementShipped",
        lambda o: o.replacement_shipped(
            event.replacement_id, carrier, tracking, uow.now(), timeouts
        ),
    )


async def record_replacement_refused(
    uow: UnitOfWork, event: ReplacementRefused, *, timeouts: Timeouts
) -> None:
    await apply_step(
        uow,
        event.order_id,
        "ReplacementRefused",
        lambda o: o.replacement_refused(event.replacement_id, event.reason, uow.now(), timeouts),
    )


async def record_replacement_delivered(
    uow: UnitOfWork, event: ReplacementDelivered, *, timeouts: Timeouts
) -> None:
    await apply_step(
        uow,
        event.order_id,
        "ReplacementDelivered",
        lambda o: o.replacement_delivered(
            event.replacement_id, event.delivered_at, uow.now(), timeouts
        ),
    )


async def record_replacement_failed(uow: UnitOfWork, event: ReplacementFailed) -> None:
    await apply_step(
        uow,
        event.order_id,
        "ReplacementFailed",
        lambda o: o.replacement_failed(event.replacement_id, event.reason, uow.now()),
    )
