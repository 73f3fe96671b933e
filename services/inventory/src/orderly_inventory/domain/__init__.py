"""The inventory domain: decisions only, no I/O."""
