"""Kafka subscribers of the order service."""

from __future__ import annotations

from orderly_kit.service import Service


def register(service: Service) -> None:
    """Subscribe the order service's handlers."""
