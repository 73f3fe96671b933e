"""The analytics service's use cases: the read model of every order's stages, from events."""

from orderly_analytics.use_cases import order_stages

__all__ = ["order_stages"]
