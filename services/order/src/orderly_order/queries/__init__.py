"""The order service's reads, one module per capability: orders, and sagas for operators."""

from orderly_order.queries import orders, sagas

__all__ = ["orders", "sagas"]
