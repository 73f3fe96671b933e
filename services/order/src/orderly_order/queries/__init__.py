"""The order service's reads, one module per capability: orders, returns, claims, sagas for
operators, and support's timeline of an order."""

from orderly_order.queries import claims, orders, returns, sagas, timeline

__all__ = ["claims", "orders", "returns", "sagas", "timeline"]
