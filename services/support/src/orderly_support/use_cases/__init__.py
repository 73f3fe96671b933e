"""The support service's use cases, one module per capability: cases, feedback, the orders
support knows (from the order lifecycle), and customers (their erasure, their words
sealed)."""

from orderly_support.use_cases import cases, customers, feedback, orders

__all__ = ["cases", "customers", "feedback", "orders"]
