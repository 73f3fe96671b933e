"""Orderly's shared service runtime."""
