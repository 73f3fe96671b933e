"""The order service's use cases: one function per message or request it handles.

Each works through the ``Orders`` its unit of work hands out (``uow.repository``), never
on the session itself, so that the unit tests run them on orders kept in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from prometheus_client import Counter

from orderly_kit.audit import Actor
from orderly_kit.messaging import PoisonMessageError, UnitOfWork
from orderly_order.adapters.command_queue import CommandsInFlight
from orderly_order.adapters.repository import OperatorAction, OrderRepository, Orders
from orderly_order.domain.order import Order, OrderStateError, Status, Timeouts, fingerprint
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.inventory import (
    OrderShipped,
    ShipmentDelivered,
    ShipmentFailed,
    StockReleased,
    StockReservationExpired,
    StockReservationFailed,
    StockReserved,
)
from orderly_schemas.payment import (
    PaymentCaptured,
    PaymentFailed,
    PaymentRefunded,
    PaymentVoided,
    RefundFailed,
)

log = logging.getLogger(__name__)

DEADLINES = Counter(
    "orderly_saga_deadlines_expired_total",
    "Saga waits that ran out, by the state that waited and what the saga did",
    ["status", "action"],
)


def _in_postgres(uow: UnitOfWork) -> OrderRepository:
    """The orders of ``uow``'s transaction; status changes name the message that caused them."""
    cause = uow.cause
    return OrderRepository(
        uow.session, vault=uow.vault, clock=uow.now, caused_by=cause.id if cause else None
    )


def _repo(uow: UnitOfWork) -> Orders:
    return uow.repository(_in_postgres)


async def flush_order(uow: UnitOfWork, repo: Orders, order: Order) -> None:
    await repo.save(order)
    await _publish(uow, repo, order)


async def _publish(uow: UnitOfWork, repo: Orders, order: Order) -> None:
    for message in order.messages:
        await uow.publish(await repo.outgoing(order, message))
    order.messages.clear()


class OrderConflictError(PoisonMessageError):
    """An order id that already names another order: the same id with another body.

    It names the id only, never the body (the customer's data). On Kafka the message is
    dead-lettered before any effect; over HTTP it is a 409.
    """

    def __init__(self, order_id: UUID) -> None:
        super().__init__(
            f"order {order_id} was already placed with another body (customer, lines, total,"
            " address or payment differ); an order id names one order: place a new order"
            " under a new id"
        )
        self.order_id = order_id


async def place_order(uow: UnitOfWork, event: OrderPlaced, *, timeouts: Timeouts) -> None:
    """Accept a placed order once, however often checkout sends it; refuse another order
    under an order id already taken (OrderConflictError)."""
    repo = _repo(uow)
    if await repo.exists(event.order_id):
        placed = await repo.get(event.order_id)
        if placed is not None and not placed.placed_by(event):
            raise OrderConflictError(event.order_id)
        log.info("order %s already placed; ignoring the repeat", event.order_id)
        return
    order = Order.place(
        event, order_number=await repo.next_order_number(), now=uow.now(), timeouts=timeouts
    )
    await repo.add(order)
    await _publish(uow, repo, order)


async def submit_order(uow: UnitOfWork, event: OrderPlaced) -> bool:
    """Publish an order a client sent over HTTP as OrderPlaced, unless it is a repeat of
    one already placed or still on its way (then nothing happens): True if published.

    Raises OrderConflictError if the order id already names another order. Requests for
    one order id take turns, and an order published here is compared while it is still
    unsent in the outbox, so even a second request racing the first is refused. An order
    on Kafka (sent by upstream checkout, or from here: the outbox then keeps none of its
    personal data) is only known here once it is placed: until then, a different body
    under its id is published and dead-lettered by ``place_order``.
    """
    repo = _repo(uow)
    await repo.hold_order_id(event.order_id)
    placed = await repo.get(event.order_id)
    if placed is not None:
        if not placed.placed_by(event):
            raise OrderConflictError(event.order_id)
        return False
    in_flight = await repo.placed_in_flight(event.order_id)
    if in_flight:
        if any(fingerprint(sent) != fingerprint(event) for sent in in_flight):
            raise OrderConflictError(event.order_id)
        return False
    await uow.publish(event)
    return True


async def apply_step(
    uow: UnitOfWork, order_id: UUID, name: str, act: Callable[[Order], bool]
) -> None:
    repo = _repo(uow)
    order = await repo.get(order_id)
    if order is None:
        # Replies only exist for orders we placed; the kit retries, then dead-letters.
        raise LookupError(f"{name} for unknown order {order_id}")
    if act(order):
        await flush_order(uow, repo, order)
    else:
        log.info("%s ignored: order %s is %s", name, order.order_number, order.status.value)


async def record_stock_reserved(
    uow: UnitOfWork, event: StockReserved, *, timeouts: Timeouts
) -> None:
    await apply_step(
        uow, event.order_id, "StockReserved", lambda o: o.stock_reserved(uow.now(), timeouts)
    )


async def record_stock_reservation_failed(uow: UnitOfWork, event: StockReservationFailed) -> None:
    await apply_step(
        uow,
        event.order_id,
        "StockReservationFailed",
        lambda o: o.stock_reservation_failed(event.reason, uow.now()),
    )


async def record_stock_reservation_expired(
    uow: UnitOfWork, event: StockReservationExpired, *, timeouts: Timeouts
) -> None:
    await apply_step(
        uow,
        event.order_id,
        "StockReservationExpired",
        lambda o: o.reservation_expired(event.reason, uow.now(), timeouts),
    )


async def record_stock_released(
    uow: UnitOfWork, event: StockReleased, *, timeouts: Timeouts
) -> None:
    await apply_step(
        uow, event.order_id, "StockReleased", lambda o: o.stock_released(uow.now(), timeouts)
    )


async def record_payment_captured(
    uow: UnitOfWork, event: PaymentCaptured, *, timeouts: Timeouts
) -> None:
    await apply_step(
        uow,
        event.order_id,
        "PaymentCaptured",
        lambda o: o.payment_captured(event.payment_id, event.amount, uow.now(), timeouts),
    )


async def record_payment_failed(
    uow: UnitOfWork, event: PaymentFailed, *, timeouts: Timeouts
) -> None:
    await apply_step(
        uow,
        event.order_id,
        "PaymentFailed",
        lambda o: o.payment_failed(event.reason, uow.now(), timeouts),
    )


async def record_payment_refunded(uow: UnitOfWork, event: PaymentRefunded) -> None:
    await apply_step(
        uow,
        event.order_id,
        "PaymentRefunded",
        lambda o: o.refund_settled(event.refund_id, uow.now()),
    )


async def record_payment_voided(uow: UnitOfWork, event: PaymentVoided) -> None:
    await apply_step(
        uow, event.order_id, "PaymentVoided", lambda o: o.refund_settled(event.refund_id, uow.now())
    )


async def record_refund_failed(uow: UnitOfWork, event: RefundFailed) -> None:
    await apply_step(
        uow,
        event.order_id,
        "RefundFailed",
        lambda o: o.refund_failed(event.refund_id, event.reason, event.attempts, uow.now()),
    )


async def record_order_shipped(uow: UnitOfWork, event: OrderShipped, *, timeouts: Timeouts) -> None:
    await apply_step(
        uow,
        event.order_id,
        "OrderShipped",
        lambda o: o.shipped(event.carrier, _tracking_numbers(event), uow.now(), timeouts),
    )


def _tracking_numbers(event: OrderShipped) -> list[str]:
    """Every parcel's tracking number (an order split across warehouses has several)."""
    return [p.tracking_number for p in event.parcels] or [event.tracking_number]


async def record_shipment_failed(
    uow: UnitOfWork, event: ShipmentFailed, *, timeouts: Timeouts
) -> None:
    await apply_step(
        uow,
        event.order_id,
        "ShipmentFailed",
        lambda o: o.shipment_failed(event.reason, uow.now(), timeouts),
    )


async def record_shipment_delivered(
    uow: UnitOfWork, event: ShipmentDelivered, *, timeouts: Timeouts
) -> None:
    await apply_step(
        uow,
        event.order_id,
        "ShipmentDelivered",
        lambda o: o.delivered(event.delivered_at, uow.now(), timeouts),
    )


async def confirm_receipt(uow: UnitOfWork, order_id: UUID) -> Order | None:
    """The customer confirms receipt; raises OrderStateError if the order is not delivered."""
    repo = _repo(uow)
    order = await repo.get(order_id)
    if order is None:
        return None
    if order.complete(confirmed_by="customer", now=uow.now()):
        await flush_order(uow, repo, order)
    return order


async def cancel_order(
    uow: UnitOfWork,
    order_id: UUID,
    *,
    reason: str,
    timeouts: Timeouts,
    staff: Actor | None = None,
) -> Order | None:
    """The customer, or ``staff`` (support, admin) for them, cancels; raises OrderStateError
    once the order has shipped. A cancel by staff is audited.

    The order row is locked, so a cancel racing a saga step (or another cancel)
    runs strictly before or after it: exactly one outcome.
    """
    repo = _repo(uow)
    order = await repo.get(order_id)
    if order is None:
        return None
    before = order.status
    if order.cancel(reason=reason, now=uow.now(), timeouts=timeouts):
        await flush_order(uow, repo, order)
        if staff is not None:
            await uow.audit(
                actor=staff,
                action="order.cancel",
                target=f"order:{order_id}",
                before={"status": before},
                after={"status": order.status, "reason": reason},
            )
    return order


async def process_due_deadlines(
    uow: UnitOfWork,
    *,
    timeouts: Timeouts,
    queue: CommandsInFlight | None = None,
    batch: int = 100,
) -> int:
    """Act on saga waits that ran out (re-send, compensate, auto-complete); returns how many.

    Due orders are claimed so that replicas share the work and a saga step in progress
    on an order is never waited for (``Orders.claim_due``). With ``queue``, an order
    whose commands or answers are still queued waits again instead (see
    ``adapters/command_queue.py``).
    """
    now = uow.now()
    repo = _repo(uow)
    loaded = await repo.claim_due(now, limit=batch)
    queued = (
        await queue.still_waiting(uow.session, [o.order_id for o in loaded if o.awaits_commands()])
        if queue
        else set()
    )
    for order in loaded:
        before, resends = order.status, order.resends
        held = order.order_id in queued
        if order.deadline_passed(now, timeouts, queued=held):
            DEADLINES.labels(before.value, _action(before, order, resends, held)).inc()
            await flush_order(uow, repo, order)
    return len(loaded)


def _action(before: Status, order: Order, resends_before: int, held: bool) -> str:
    if order.status is before:
        if order.resends > resends_before:
            return "resent"
        return "held" if held else "cleared"
    return {
        Status.COMPLETED: "completed",
        Status.CANCELLING: "compensated",
        Status.NEEDS_ATTENTION: "needs_attention",
    }.get(order.status, order.status.value)


async def retry_saga_step(
    uow: UnitOfWork, order_id: UUID, *, operator: str, reason: str, timeouts: Timeouts
) -> Order:
    """An operator sends the current step's commands again; audited."""
    return await _operate(
        uow,
        order_id,
        action="retry",
        operator=operator,
        reason=reason,
        act=lambda o: o.retry_current_step(uow.now(), timeouts),
    )


async def force_compensation(
    uow: UnitOfWork, order_id: UUID, *, operator: str, reason: str, timeouts: Timeouts
) -> Order:
    """An operator gives up on a saga before shipment and undoes it; audited."""
    return await _operate(
        uow,
        order_id,
        action="compensate",
        operator=operator,
        reason=reason,
        act=lambda o: o.force_compensation(
            reason=f"compensation forced by {operator}: {reason}", now=uow.now(), timeouts=timeouts
        ),
    )


async def _operate(
    uow: UnitOfWork,
    order_id: UUID,
    *,
    action: str,
    operator: str,
    reason: str,
    act: Callable[[Order], object],
) -> Order:
    repo = uow.repository(
        lambda u: OrderRepository(
            u.session, vault=u.vault, clock=u.now, caused_by=f"operator:{operator}"
        )
    )
    order = await repo.get(order_id)
    if order is None:
        raise OrderStateError(f"no order {order_id}")
    before = order.status
    act(order)
    sent = [m.message_type() for m in order.messages]
    await flush_order(uow, repo, order)
    await repo.record_operator_action(
        OperatorAction(
            order_id=order_id,
            action=action,
            operator=operator,
            reason=reason,
            status_before=before,
            status_after=order.status,
            messages_sent=sent,
        )
    )
    await uow.audit(
        actor=Actor.operator(operator),
        action=f"saga.{action}",
        target=f"order:{order_id}",
        before={"status": before},
        after={"status": order.status, "reason": reason, "sent": sent},
    )
    log.warning(
        "operator %s: %s on order %s (%s -> %s), sent %s: %s",
        operator,
        action,
        order.order_number,
        before.value,
        order.status.value,
        sent,
        reason,
    )
    return order
