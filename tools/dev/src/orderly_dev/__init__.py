"""Orderly's local stack, demo checkout and benchmark."""
