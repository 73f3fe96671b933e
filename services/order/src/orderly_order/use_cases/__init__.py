"""The order service's use cases, one module per capability: the order and its saga, the
returns of delivered orders, and the customers' personal data."""

from orderly_order.use_cases import customers, orders, returns

__all__ = ["customers", "orders", "returns"]
