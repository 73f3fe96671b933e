"""The order service's use cases, one module per capability: the order and its saga, and
the customers' personal data."""

from orderly_order.use_cases import customers, orders

__all__ = ["customers", "orders"]
