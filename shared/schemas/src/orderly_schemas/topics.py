"""Topic names: the version is part of the name; a breaking change is a new topic."""

from typing import Final

CHECKOUT_ORDERS: Final = "checkout.orders.v1"
ORDER_EVENTS: Final = "order.events.v1"
#: Returns of delivered orders (keyed by order id): notification, analytics, support read it.
ORDER_RETURNS: Final = "order.returns.v1"
#: What happens to customers as a whole (keyed by customer id), kept for good: CustomerErased.
#: Every service that keeps personal data reads it (a database restored from a backup
#: replays it); it carries a handful of records, so reading it costs them nothing.
CUSTOMER_EVENTS: Final = "customer.events.v1"
INVENTORY_COMMANDS: Final = "inventory.commands.v1"
INVENTORY_EVENTS: Final = "inventory.events.v1"
PAYMENT_COMMANDS: Final = "payment.commands.v1"
PAYMENT_EVENTS: Final = "payment.events.v1"
NOTIFICATION_EVENTS: Final = "notification.events.v1"
#: After-sales cases and order feedback (keyed by order id, or by case id for a case
#: without an order): no free text and no personal data, only ids, categories and scores.
SUPPORT_EVENTS: Final = "support.events.v1"

ALL_TOPICS: Final = (
    CHECKOUT_ORDERS,
    ORDER_EVENTS,
    ORDER_RETURNS,
    CUSTOMER_EVENTS,
    INVENTORY_COMMANDS,
    INVENTORY_EVENTS,
    PAYMENT_COMMANDS,
    PAYMENT_EVENTS,
    NOTIFICATION_EVENTS,
    SUPPORT_EVENTS,
)

DEAD_LETTER_SUFFIX: Final = ".dlq"


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}{DEAD_LETTER_SUFFIX}"
