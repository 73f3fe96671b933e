"""Liveness, readiness (database and broker reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

if TYPE_CHECKING:
    from orderly_kit.service import Service


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["operations"])

    @r.get("/health/live")
    async def live() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @r.get("/health/ready")
    async def ready() -> Response:
        """The database and the broker answer."""
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(service.database.ping(), 2.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}: {exc}"
        try:
            ok = await service.broker.ping(timeout=2.0)
            checks["broker"] = "ok" if ok else "error: no answer"
        except Exception as exc:
            checks["broker"] = f"error: {type(exc).__name__}: {exc}"
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status_code=200 if healthy else 503,
        )

    @r.get("/metrics")
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return r
