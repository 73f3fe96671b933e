"""The order domain: decisions only, no I/O."""
