"""The order service's reads, one module per capability: orders, returns, claims, and sagas
for operators."""

from orderly_order.queries import claims, orders, returns, sagas

__all__ = ["claims", "orders", "returns", "sagas"]
