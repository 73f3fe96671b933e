"""What every service that keeps customers' personal data does with their keys
(``orderly_kit.personal_data``): erasure reaches each of them — on CustomerErased
(published by the order service's erase command) each destroys its own copy of the
customer's data key, so what it holds of them no longer opens — and each re-wraps its keys
when the key-encryption key rotates (``python -m orderly_<service> customers rotate-keys``).
"""

from __future__ import annotations

import logging

from orderly_kit.audit import Actor
from orderly_kit.messaging import UnitOfWork
from orderly_kit.service import Service
from orderly_schemas import topics
from orderly_schemas.personal import CustomerErased

log = logging.getLogger(__name__)


async def forget_customer(uow: UnitOfWork, event: CustomerErased) -> bool:
    """Destroy this service's copy of the customer's data key (a tombstone if it had none,
    so that nothing of theirs is kept later either); True if a key was destroyed."""
    destroyed = await uow.vault.erase(uow.session, event.customer_id, now=uow.now())
    log.info(
        "customer %s erased: %s",
        event.customer_id,
        "their data key is destroyed" if destroyed else "no data key was kept for them",
    )
    return destroyed


def forget_erased_customers(service: Service) -> None:
    """Subscribe ``service`` (built with its ``customer_keys``) to CustomerErased."""

    @service.subscriber(topics.CUSTOMER_EVENTS).on(CustomerErased)
    async def on_customer_erased(event: CustomerErased, uow: UnitOfWork) -> None:
        await forget_customer(uow, event)


async def rotate_keys(uow: UnitOfWork, *, operator: Actor, batch: int = 500) -> int:
    """Re-wrap up to ``batch`` customers' data keys with the active key; how many. A batch
    that re-wrapped any is audited (``data_key.rotate``, with how many) under ``operator``."""
    rewrapped = await uow.vault.rotate(uow.session, batch=batch)
    if rewrapped:
        await uow.audit(
            actor=operator,
            action="data_key.rotate",
            target=f"data_key:{uow.vault.active}",
            after={"rewrapped": rewrapped},
        )
    return rewrapped
