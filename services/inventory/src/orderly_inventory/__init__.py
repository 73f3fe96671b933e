"""Orderly inventory service: stock per warehouse, reservations, fulfilment and shipments."""

__version__ = "1.0.0"
