"""Kafka subscribers of the inventory service."""

from __future__ import annotations

from orderly_kit.service import Service


def register(service: Service) -> None:
    """Subscribe the inventory service's handlers."""
