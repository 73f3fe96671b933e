"""Database and external-system adapters."""
