"""What finance does by hand: a refund under the client's idempotency key.

A thin layer over ``handlers.refund_by_hand`` that also says whether the request
was a replay (the HTTP API answers a replay 200, a new refund 201), and tells an
order without any payment apart from a refund the payment refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from uuid import UUID

from orderly_kit.messaging import UnitOfWork
from orderly_payment import handlers
from orderly_payment.adapters.repository import PaymentRepository
from orderly_payment.domain.payments import Refund
from orderly_schemas.base import Money

MANUAL_PREFIX: Final = "manual:"
#: refunds.refund_id holds 100 characters; the prefix takes some of them.
MAX_KEY_LENGTH: Final = 100 - len(MANUAL_PREFIX)


def manual_refund_id(idempotency_key: str) -> str:
    """The refund id of a refund asked for by hand: never one the saga uses."""
    return f"{MANUAL_PREFIX}{idempotency_key}"


class NoPaymentError(Exception):
    """The order has no payment at all: nothing to refund."""


@dataclass(frozen=True)
class ManualRefund:
    refund: Refund
    replayed: bool  # the key was used before: this is the refund made then


async def refund_by_hand(
    uow: UnitOfWork,
    *,
    order_id: UUID,
    idempotency_key: str,
    amount: Money,
    reason: str,
    requested_by: str,
    gateway: handlers.Gateway,
) -> ManualRefund:
    """Refund ``amount`` of the order once per key; see ``handlers.refund_by_hand``.

    Raises NoPaymentError, or RefundRefusedError with the reason (a key used for another
    amount or order, nothing captured, more than is left, another currency).
    """
    repo = PaymentRepository(uow.session)
    # The handler takes the same lock (a transaction may hold it twice): taken first here,
    # no concurrent request with the key can add the refund between this look and its own.
    await repo.lock_order(order_id)
    refund_id = manual_refund_id(idempotency_key)
    replayed = await repo.refund(refund_id) is not None
    if not replayed and await repo.payment_of(order_id) is None:
        raise NoPaymentError(f"no payment for order {order_id} has been attempted")
    refund = await handlers.refund_by_hand(
        uow,
        order_id=order_id,
        refund_id=refund_id,
        amount=amount,
        reason=reason,
        requested_by=requested_by,
        gateway=gateway,
    )
    return ManualRefund(refund=refund, replayed=replayed)
