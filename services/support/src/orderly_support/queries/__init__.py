"""The support service's reads, one module per capability: cases, feedback, the orders
support knows, and the after-sales report."""

from orderly_support.queries import after_sales, cases, feedback, orders

__all__ = ["after_sales", "cases", "feedback", "orders"]
