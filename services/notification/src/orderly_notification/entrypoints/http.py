"""HTTP API of the notification service."""

from __future__ import annotations

from fastapi import APIRouter

from orderly_kit.service import Service


def router(service: Service) -> APIRouter:
    r = APIRouter()
    return r
