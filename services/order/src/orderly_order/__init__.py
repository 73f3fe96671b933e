"""Orderly order service: saga orchestrator, order lifecycle, customer service API."""

__version__ = "1.0.0"
