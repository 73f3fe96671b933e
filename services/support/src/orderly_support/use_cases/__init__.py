"""The support service's use cases, one module per capability: cases, feedback, the orders
support knows (from the order lifecycle), customers (their erasure, their words sealed),
and after_sales (the returns and claims the after-sales report counts)."""

from orderly_support.use_cases import after_sales, cases, customers, feedback, orders

__all__ = ["after_sales", "cases", "customers", "feedback", "orders"]
