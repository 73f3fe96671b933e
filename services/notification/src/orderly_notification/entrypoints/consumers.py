"""Kafka subscribers of the notification service."""

from __future__ import annotations

from orderly_kit.service import Service


def register(service: Service) -> None:
    """Subscribe the notification service's handlers."""
