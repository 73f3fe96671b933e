"""The order service's reads, one module per capability: orders, returns, and sagas for
operators."""

from orderly_order.queries import orders, returns, sagas

__all__ = ["orders", "returns", "sagas"]
