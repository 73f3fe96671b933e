"""Orderly's event contracts. Depend on this package alone to consume our events."""

from orderly_schemas.base import Allocation, Message, Money, OrderLine, StockLine
from orderly_schemas.catalogue import BY_TYPE, MESSAGE_TYPES, decode, message_class
from orderly_schemas.cloudevents import Envelope

__all__ = [
    "BY_TYPE",
    "MESSAGE_TYPES",
    "Allocation",
    "Envelope",
    "Message",
    "Money",
    "OrderLine",
    "StockLine",
    "decode",
    "message_class",
]
