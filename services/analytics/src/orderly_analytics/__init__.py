"""Orderly analytics service: read models and KPIs built from every event."""

__version__ = "1.0.0"
