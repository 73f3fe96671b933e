"""The support service's reads, one module per capability: cases, feedback, and the orders
support knows."""

from orderly_support.queries import cases, feedback, orders

__all__ = ["cases", "feedback", "orders"]
