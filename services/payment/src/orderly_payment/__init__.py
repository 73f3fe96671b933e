"""Orderly payment service: payment methods, provider adapters, captures, refunds."""

__version__ = "1.0.0"
