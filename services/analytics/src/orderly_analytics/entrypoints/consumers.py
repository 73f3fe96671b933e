"""Kafka subscribers of the analytics service."""

from __future__ import annotations

from orderly_kit.service import Service


def register(service: Service) -> None:
    """Subscribe the analytics service's handlers."""
