"""A stand-in for upstream checkout: builds OrderPlaced events and publishes them to Kafka;
for read-model tests, also the lifecycle the order service announces after one."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from uuid import UUID, uuid4

from aiokafka import AIOKafkaProducer

from orderly_schemas import topics
from orderly_schemas.base import Message, Money, OrderLine
from orderly_schemas.checkout import Address, Customer, OrderPlaced, PaymentDetails, PaymentMethod
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.order import (
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderPaid,
)

DEMO_SKUS = tuple(f"DEMO-{i:04d}" for i in range(1, 21))
SOLDOUT_SKU = "DEMO-SOLDOUT"
SOURCE = "/orderly/demo-checkout"


def make_order(
    rng: random.Random | None = None,
    *,
    sold_out: bool = False,
    payment_token: str = "tok_visa_ok",  # noqa: S107 - a simulated provider token
    order_id: UUID | None = None,
    postal_code: str | None = None,
    method: PaymentMethod | None = None,
) -> OrderPlaced:
    """A plausible order over the demo catalogue; ``sold_out`` adds a line that cannot be met.

    ``payment_token`` picks the simulated provider's answer (``tok_decline…``,
    ``tok_timeout…``, ``tok_refundfail…``, ``tok_webhook…``; see the README's Payments) and
    ``method`` the payment method (by default one drawn as checkout's customers pay);
    postal code ``00000`` makes the simulated
    carrier refuse the parcel.
    """
    rng = rng or random.Random()
    n = rng.randint(1, 3)
    skus = rng.sample(DEMO_SKUS, n)
    lines = [
        OrderLine(
            sku=sku,
            quantity=rng.randint(1, 3),
            unit_price=Money(amount=rng.randint(199, 9999), currency="EUR"),
        )
        for sku in skus
    ]
    if sold_out:
        lines.append(
            OrderLine(sku=SOLDOUT_SKU, quantity=1, unit_price=Money(amount=1500, currency="EUR"))
        )
    total = sum(line.unit_price.amount * line.quantity for line in lines)
    customer_no = rng.randint(1, 5000)
    oid = order_id or uuid4()
    return OrderPlaced(
        order_id=oid,
        customer=Customer(
            customer_id=f"C{customer_no:05d}",
            email=f"customer{customer_no}@example.com",
            name=f"Customer {customer_no}",
        ),
        lines=lines,
        total=Money(amount=total, currency="EUR"),
        shipping_address=Address(
            name=f"Customer {customer_no}",
            line1=f"{rng.randint(1, 200)} Market Street",
            city=rng.choice(["Berlin", "Hamburg", "Munich", "Cologne"]),
            postal_code=postal_code or f"{rng.randint(10000, 99999)}",
            country="DE",
            region=rng.choice(["east", "west"]),
        ),
        payment=_payment_details(rng, payment_token, method),
        placed_at=datetime.now(UTC),
    )


#: How checkout's customers pay, roughly: mostly cards, then wallets and platforms.
_METHODS: list[tuple[PaymentMethod, str]] = [
    ("credit_card", "visa"),
    ("credit_card", "mastercard"),
    ("debit_card", "maestro"),
    ("mobile_wallet", "apple_pay"),
    ("third_party", "paypal"),
]


def _payment_details(
    rng: random.Random, token: str, method: PaymentMethod | None
) -> PaymentDetails:
    """A token and what the provider's tokenisation returned to show of the method."""
    chosen, brand = rng.choice(_METHODS)
    if method is not None:
        chosen = method
    card = chosen in ("credit_card", "debit_card")
    return PaymentDetails(
        method=chosen,
        token=token,
        brand=brand,
        last4=f"{rng.randint(0, 9999):04d}",
        exp_month=rng.randint(1, 12) if card else None,
        exp_year=rng.randint(2027, 2032) if card else None,
    )


def happy_path(
    order: OrderPlaced, *, number: str = "ORD-0000001", step: timedelta = timedelta(minutes=1)
) -> list[Message]:
    """``order``, then each lifecycle event of a smooth saga, ``step`` after the one before."""
    common: dict[str, Any] = {
        "order_id": order.order_id,
        "order_number": number,
        "customer_id": order.customer.customer_id,
    }
    at = order.placed_at
    return [
        order,
        OrderConfirmed(
            **common,
            occurred_at=at + 1 * step,
            customer_email=order.customer.email,
            lines=order.lines,
            total=order.total,
        ),
        OrderPaid(**common, occurred_at=at + 2 * step, amount=order.total, payment_id="pay_1"),
        OrderDispatched(
            **common, occurred_at=at + 3 * step, carrier="SimPost", tracking_numbers=["SP1"]
        ),
        OrderDelivered(**common, occurred_at=at + 4 * step, delivered_at=at + 4 * step),
        OrderCompleted(**common, occurred_at=at + 5 * step, confirmed_by="customer"),
    ]


def headers_for(order: OrderPlaced) -> list[tuple[str, bytes]]:
    env = Envelope(
        type=order.message_type(),
        source=SOURCE,
        subject=str(order.order_id),
        correlation_id=str(order.order_id),
    )
    return [(k, v.encode()) for k, v in env.to_headers().items()]


class Checkout:
    """Publishes OrderPlaced to ``checkout.orders.v1`` keyed by order id."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=2
        )
        self.sent_at: dict[UUID, float] = {}

    async def __aenter__(self) -> Checkout:
        await self._producer.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._producer.stop()

    async def place(self, order: OrderPlaced) -> None:
        """Publish and wait for the broker's acknowledgement."""
        await self.send_raw(
            order.model_dump_json().encode(), key=str(order.order_id), headers=headers_for(order)
        )
        self.sent_at[order.order_id] = time.time()

    async def send_raw(
        self, value: bytes, *, key: str | None, headers: list[tuple[str, bytes]]
    ) -> None:
        """Publish arbitrary bytes (for tests of malformed input)."""
        await self._producer.send_and_wait(
            topics.CHECKOUT_ORDERS,
            value,
            key=key.encode() if key else None,
            headers=headers,
        )
