"""The analytics domain: decisions only, no I/O."""
