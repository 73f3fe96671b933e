"""The order service's use cases, one module per capability: the order and its saga, the
returns of delivered orders, claims on goods lost or damaged in transit, and the
customers' personal data."""

from orderly_order.use_cases import claims, customers, orders, returns

__all__ = ["claims", "customers", "orders", "returns"]
