"""What the order service does with a customer's personal data as a whole: erase it, and
seal what older orders still keep in plaintext (re-wrapping keys is the kit's,
``orderly_kit.customers.rotate_keys``, as in every service that keeps personal data)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update

from orderly_kit.audit import Actor
from orderly_kit.messaging import UnitOfWork
from orderly_order.adapters import personal_data
from orderly_order.adapters.orm import orders
from orderly_order.domain.order import TERMINAL
from orderly_schemas.personal import CustomerErased


class CustomerHasOrdersInProgressError(Exception):
    """A customer with orders still under way cannot be erased: their saga needs the address."""


@dataclass(frozen=True)
class Erasure:
    customer_id: str
    #: Whether a data key was destroyed (False: the customer had none, or was erased before).
    key_destroyed: bool
    orders: int


async def erase_customer(uow: UnitOfWork, customer_id: str, *, operator: Actor) -> Erasure:
    """Destroy the customer's data key, so that every sealed copy of their name, email and
    address (this database's and its backups') no longer opens, and publish CustomerErased
    so that every other service holding them does the same; plaintext left by orders
    placed before sealing is deleted, and so are the orders' fingerprints (a repeat of an
    erased customer's order then counts as the same order). Refused while one of their
    orders is under way. Audited (``customer.erase``) under ``operator``."""
    session = uow.session
    ended = orders.c.status.in_([s.value for s in TERMINAL])
    done, under_way = (
        await session.execute(
            select(func.count().filter(ended), func.count().filter(~ended)).where(
                orders.c.customer_id == customer_id
            )
        )
    ).one()
    if under_way:
        raise CustomerHasOrdersInProgressError(
            f"customer {customer_id} has {under_way} order(s) under way; erase them once"
            " they have ended"
        )
    destroyed = await uow.vault.erase(session, customer_id, now=uow.now())
    await session.execute(
        update(orders)
        .where(orders.c.customer_id == customer_id, orders.c.customer_email.is_not(None))
        .values(customer_name=None, customer_email=None, shipping_address=None)
    )
    # The fingerprint of each placed order hashes its contact data too (unkeyed).
    await session.execute(
        update(orders)
        .where(orders.c.customer_id == customer_id, orders.c.placed_fingerprint.is_not(None))
        .values(placed_fingerprint=None)
    )
    # Every other holder of their personal data destroys its copy of the key too.
    await uow.publish(
        CustomerErased(customer_id=customer_id, occurred_at=uow.now()), key=customer_id
    )
    await uow.audit(
        actor=operator,
        action="customer.erase",
        target=f"customer:{customer_id}",
        after={"key_destroyed": destroyed, "orders": done},
    )
    return Erasure(customer_id, destroyed, done)


async def seal_legacy(uow: UnitOfWork, *, batch: int = 500) -> int:
    """Seal up to ``batch`` older orders' plaintext personal data; how many."""
    return await personal_data.seal_legacy(uow.vault, uow.session, now=uow.now(), batch=batch)
