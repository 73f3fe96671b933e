"""Orderly support service: after-sales cases with service-level agreements, and feedback on
delivered orders."""

__version__ = "1.0.0"
