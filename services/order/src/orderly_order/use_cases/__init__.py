"""The order service's use cases, one module per capability: the order and its saga."""

from orderly_order.use_cases import orders

__all__ = ["orders"]
