"""HTTP API of the order service."""

from __future__ import annotations

from fastapi import APIRouter

from orderly_kit.service import Service


def router(service: Service) -> APIRouter:
    r = APIRouter()
    return r
