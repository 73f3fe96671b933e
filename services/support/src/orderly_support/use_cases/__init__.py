"""The support service's use cases, one module per capability: cases, feedback, and the
orders support knows (from the order lifecycle)."""

from orderly_support.use_cases import cases, feedback, orders

__all__ = ["cases", "feedback", "orders"]
