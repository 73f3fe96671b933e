"""Orderly operator tools."""
