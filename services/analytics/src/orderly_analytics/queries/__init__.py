"""The analytics service's reads: an order's stages and the KPIs over them."""

from orderly_analytics.queries import order_stages

__all__ = ["order_stages"]
