"""The payment domain: decisions only, no I/O."""
