"""Orderly notification service: templates and channels for customer-facing messages."""

__version__ = "1.0.0"
