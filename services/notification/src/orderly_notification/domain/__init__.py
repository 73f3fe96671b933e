"""The notification domain: decisions only, no I/O."""
