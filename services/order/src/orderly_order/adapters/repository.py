"""Loads and stores order aggregates (SQLAlchemy Core, one transaction per use).

``Orders`` is what the use cases need of a repository; ``OrderRepository`` keeps the
orders in PostgreSQL, and the unit tests keep them in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import bindparam, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from orderly_kit.clock import Clock
from orderly_kit.personal_data import Vault
from orderly_order.adapters.orm import (
    claims,
    order_lines,
    order_number_seq,
    order_status_history,
    orders,
    outbox,
    saga_operator_actions,
)
from orderly_order.adapters.personal_data import (
    KEY_COLUMNS,
    WITH_KEYS,
    Contact,
    open_contact,
    sealed_columns,
    sealed_message,
)
from orderly_order.domain.claims import FINAL as CLAIM_FINAL
from orderly_order.domain.claims import follows
from orderly_order.domain.order import Compensation, Order, Status
from orderly_schemas import topics
from orderly_schemas.base import Message, Money, OrderLine
from orderly_schemas.checkout import OrderPlaced, PaymentDetails


@dataclass(frozen=True)
class OperatorAction:
    """What an operator did to an order's saga, and what it changed: its audit record."""

    order_id: UUID
    action: str
    operator: str
    reason: str
    status_before: Status
    status_after: Status
    messages_sent: Sequence[str]


class Orders(Protocol):
    """The orders, as the use cases load and store them within one unit of work."""

    async def next_order_number(self) -> str: ...

    async def exists(self, order_id: UUID) -> bool: ...

    async def get(self, order_id: UUID) -> Order | None:
        """The order, held for this unit of work: no other one changes it meanwhile."""
        ...

    async def add(self, order: Order) -> None: ...

    async def save(self, order: Order) -> None:
        """Store the order and its status changes (the order's ``changes`` are emptied)."""
        ...

    async def hold_order_id(self, order_id: UUID) -> None:
        """Keep ``order_id`` for this unit of work: another one that holds it waits."""
        ...

    async def placed_in_flight(self, order_id: UUID) -> list[OrderPlaced]:
        """The OrderPlaced messages this service published for ``order_id`` (``POST
        /orders``) that are still in the outbox, unsent: once sent, the outbox keeps no
        payload of theirs (personal data), and the order is known once it is placed."""
        ...

    async def claim_due(self, now: datetime, *, limit: int) -> list[Order]:
        """Up to ``limit`` orders whose deadline is at or before ``now``, earliest first,
        none of them held by another unit of work."""
        ...

    async def record_operator_action(self, action: OperatorAction) -> None:
        """Audit what an operator did to an order's saga."""
        ...

    async def outgoing(self, order: Order, message: Message) -> Message:
        """``message`` of ``order`` as it may leave the service: any personal data in it
        sealed under the customer's data key."""
        ...


class OrderRepository:
    """``Orders`` in PostgreSQL: every order read is locked FOR UPDATE; the customer's
    personal data is sealed by ``vault`` when an order is added and opened when read."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        vault: Vault,
        clock: Clock,
        caused_by: str | None = None,
    ) -> None:
        self.session = session
        self.vault = vault
        self.clock = clock
        self.caused_by = caused_by
        # The data key of each order's customer, as opened when it was loaded or added.
        self._keys: dict[UUID, bytes] = {}

    async def next_order_number(self) -> str:
        value = await self.session.scalar(_NEXT_NUMBER)
        return f"ORD-{int(value or 0):07d}"

    async def exists(self, order_id: UUID) -> bool:
        found = await self.session.scalar(_EXISTS, {"order_id": order_id})
        return found is not None

    async def get(self, order_id: UUID, *, lock: bool = True) -> Order | None:
        """The order, locked FOR UPDATE so that saga steps on one order never interleave;
        its lines come in the same statement (every saga step loads an order)."""
        query = _GET_LOCKED if lock else _GET
        row = (await self.session.execute(query, {"order_id": order_id})).mappings().first()
        if row is None:
            return None
        contact = open_contact(self.vault, row)
        if contact.key is not None:
            self._keys[order_id] = contact.key
        return _to_order(row, row["lines"], contact)

    async def add(self, order: Order) -> None:
        contact = Contact(
            name=order.customer_name, email=order.customer_email, address=order.shipping_address
        )
        key = await self.vault.key_for(self.session, order.customer_id, now=self.clock())
        self._keys[order.order_id] = key
        sealed = sealed_columns(self.vault, key, order.customer_id, contact)
        await self.session.execute(_INSERT_ORDER, _order_values(order) | sealed)
        await self.session.execute(
            _INSERT_LINES,
            [
                {
                    "order_id": order.order_id,
                    "line_no": n,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price_amount": line.unit_price.amount,
                    "currency": line.unit_price.currency,
                }
                for n, line in enumerate(order.lines, start=1)
            ],
        )
        await self._record_changes(order)

    async def save(self, order: Order) -> None:
        values = _order_values(order)
        values["saved_order_id"] = values.pop("order_id")
        await self.session.execute(_SAVE, values)
        if order.claim_id is not None and order.changes:
            # The claim follows its order (domain.claims); a settled claim stays settled.
            await self.session.execute(
                _FOLLOW_CLAIM,
                {"followed_claim_id": order.claim_id, "claim_status": follows(order.status).value},
            )
        await self._record_changes(order)

    async def hold_order_id(self, order_id: UUID) -> None:
        """A transaction-scoped advisory lock on the order id (its first 64 bits)."""
        key = int.from_bytes(order_id.bytes[:8], "big", signed=True)
        await self.session.execute(_HOLD_ORDER_ID, {"key": key})

    async def placed_in_flight(self, order_id: UUID) -> list[OrderPlaced]:
        payloads = (await self.session.scalars(_PLACED_IN_OUTBOX, {"key": str(order_id)})).all()
        placed = []
        for payload in payloads:
            try:
                placed.append(OrderPlaced.model_validate_json(payload))
            except ValidationError:
                continue  # published under an older contract; its order is what counts
        return placed

    async def claim_due(self, now: datetime, *, limit: int) -> list[Order]:
        """Due orders are claimed with SKIP LOCKED, so replicas share the work and a saga
        step in progress on an order is never waited for."""
        due = (
            await self.session.scalars(
                select(orders.c.order_id)
                .where(orders.c.deadline_at <= now)
                .order_by(orders.c.deadline_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        return [order for order_id in due if (order := await self.get(order_id)) is not None]

    async def record_operator_action(self, action: OperatorAction) -> None:
        await self.session.execute(
            insert(saga_operator_actions).values(
                order_id=action.order_id,
                action=action.action,
                operator=action.operator,
                reason=action.reason,
                status_before=action.status_before.value,
                status_after=action.status_after.value,
                messages_sent=list(action.messages_sent),
            )
        )

    async def outgoing(self, order: Order, message: Message) -> Message:
        key = self._keys.get(order.order_id)
        if key is None:  # placed before sealing: the customer gets a key now
            key = await self.vault.key_for(self.session, order.customer_id, now=self.clock())
            self._keys[order.order_id] = key
        return sealed_message(self.vault, key, order.customer_id, message)

    async def _record_changes(self, order: Order) -> None:
        if order.changes:
            await self.session.execute(
                _RECORD_HISTORY,
                [
                    {
                        "order_id": order.order_id,
                        "status": c.status.value,
                        "reason": c.reason,
                        "caused_by": self.caused_by,
                        "at": c.at,
                    }
                    for c in order.changes
                ],
            )
            order.changes.clear()


#: An order's lines as one JSON array, in line order, beside the order's row.
_LINES = (
    select(
        func.coalesce(
            func.json_agg(
                aggregate_order_by(
                    func.json_build_object(
                        "sku",
                        order_lines.c.sku,
                        "quantity",
                        order_lines.c.quantity,
                        "unit_price_amount",
                        order_lines.c.unit_price_amount,
                        "currency",
                        order_lines.c.currency,
                    ),
                    order_lines.c.line_no,
                )
            ),
            literal_column("'[]'::json"),
        )
    )
    .where(order_lines.c.order_id == orders.c.order_id)
    .scalar_subquery()
)

# Every saga step's statements, built once with parameters: SQLAlchemy then looks their
# compiled form up instead of building and keying them anew on every message.
_NEXT_NUMBER = select(order_number_seq.next_value())
_EXISTS = select(orders.c.order_id).where(orders.c.order_id == bindparam("order_id"))
_GET = (
    select(orders, _LINES.label("lines"), *KEY_COLUMNS)
    .select_from(WITH_KEYS)
    .where(orders.c.order_id == bindparam("order_id"))
)
_GET_LOCKED = _GET.with_for_update(of=orders)
_INSERT_ORDER = insert(orders)
_INSERT_LINES = insert(order_lines)
_SAVE = (
    update(orders)
    .where(orders.c.order_id == bindparam("saved_order_id"))
    .values(updated_at=func.now())
)
_RECORD_HISTORY = insert(order_status_history)
_FOLLOW_CLAIM = (
    update(claims)
    .where(
        claims.c.claim_id == bindparam("followed_claim_id"),
        claims.c.status.not_in([s.value for s in CLAIM_FINAL]),
    )
    .values(status=bindparam("claim_status"), updated_at=func.now())
)
_HOLD_ORDER_ID = select(func.pg_advisory_xact_lock(bindparam("key")))
_PLACED_IN_OUTBOX = select(outbox.c.payload).where(
    outbox.c.topic == topics.CHECKOUT_ORDERS,
    outbox.c.message_type == OrderPlaced.message_type(),
    outbox.c.message_key == bindparam("key"),
    outbox.c.sent_at.is_(None),
)

#: The fields of PaymentDetails that may be shown to people.
DISPLAY_FIELDS = ("brand", "last4", "exp_month", "exp_year")


def _order_values(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "order_number": order.order_number,
        "status": order.status.value,
        "customer_id": order.customer_id,
        "currency": order.total.currency,
        "total_amount": order.total.amount,
        "payment_method": order.payment.method,
        "payment_token": order.payment.token,
        "payment_display": order.payment.model_dump(
            mode="json", include=set(DISPLAY_FIELDS), exclude_none=True
        )
        or None,
        "payment_id": order.payment_id,
        "carrier": order.carrier,
        "tracking_numbers": order.tracking_numbers,
        "placed_at": order.placed_at,
        "delivered_at": order.delivered_at,
        "auto_complete_at": order.auto_complete_at,
        "status_since": order.status_since,
        "deadline_at": order.deadline_at,
        "resends": order.resends,
        "pending_compensations": sorted(c.value for c in order.pending),
        "refund_id": order.refund_id,
        "cancel_reason": order.cancel_reason,
        "placed_fingerprint": order.placed_fingerprint,
        "claim_id": order.claim_id,
        "replacement_id": order.replacement_id,
    }


def _to_order(row: Any, lines: list[Any], contact: Contact) -> Order:
    return Order(
        order_id=row["order_id"],
        order_number=row["order_number"],
        customer_id=row["customer_id"],
        customer_email=contact.email,
        customer_name=contact.name,
        lines=[
            OrderLine(
                sku=line["sku"],
                quantity=line["quantity"],
                unit_price=Money(amount=line["unit_price_amount"], currency=line["currency"]),
            )
            for line in lines
        ],
        total=Money(amount=row["total_amount"], currency=row["currency"]),
        shipping_address=contact.address,
        payment=PaymentDetails(
            method=row["payment_method"],
            token=row["payment_token"],
            **(row["payment_display"] or {}),
        ),
        placed_at=row["placed_at"],
        status=Status(row["status"]),
        carrier=row["carrier"],
        tracking_numbers=list(row["tracking_numbers"] or []),
        payment_id=row["payment_id"],
        delivered_at=row["delivered_at"],
        auto_complete_at=row["auto_complete_at"],
        status_since=row["status_since"],
        deadline_at=row["deadline_at"],
        resends=row["resends"],
        pending={Compensation(c) for c in row["pending_compensations"]},
        refund_id=row["refund_id"],
        cancel_reason=row["cancel_reason"],
        placed_fingerprint=row["placed_fingerprint"],
        claim_id=row["claim_id"],
        replacement_id=row["replacement_id"],
    )
