"""Kafka subscribers of the payment service."""

from __future__ import annotations

from orderly_kit.service import Service


def register(service: Service) -> None:
    """Subscribe the payment service's handlers."""
