"""What the support service does with a customer's words as a whole: forget them when the
customer is erased, and seal what rows written before sealing keep in plaintext
(re-wrapping keys is the kit's, ``orderly_kit.customers.rotate_keys``, as in every service
that keeps personal data)."""

from __future__ import annotations

from orderly_kit import customers
from orderly_kit.messaging import UnitOfWork
from orderly_schemas.personal import CustomerErased
from orderly_support.adapters import personal_data


async def forget_customer(uow: UnitOfWork, event: CustomerErased) -> None:
    """The customer was erased (by the order service): destroy this service's data key of
    theirs, so that none of their sealed words opens again (a tombstone if there was none,
    so that none is kept later either), and clear what older rows keep in plaintext."""
    await customers.forget_customer(uow, event)
    await personal_data.forget_plaintext(uow.session, event.customer_id)


async def seal_legacy(uow: UnitOfWork, *, batch: int = 500) -> int:
    """Seal up to ``batch`` texts older rows keep in plaintext; how many."""
    sealer = personal_data.Sealer(uow.vault, uow.session, uow.now)
    return await personal_data.seal_legacy(sealer, batch=batch)
