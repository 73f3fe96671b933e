"""Liveness, readiness (the database answers), the consumer groups, and Prometheus metrics.

Readiness is about the HTTP API, which needs only the database: the outbox decouples
it from Kafka. The consumers are reported on their own (``/health/consumers``, and the
``orderly_consumer_group_*`` metrics), so a pod whose group is still joining, or whose
broker is away, keeps serving lookups and commands.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel

from orderly_kit.auth import PROBES, READ_METRICS

if TYPE_CHECKING:
    from orderly_kit.service import Service


class Readiness(BaseModel):
    """Whether the API can serve, and what each of its checks found."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


def router(service: Service) -> APIRouter:
    r = APIRouter(tags=["operations"])
    probe = [Depends(PROBES)]

    @r.get("/health/live", dependencies=probe)
    async def live() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @r.get(
        "/health/ready",
        dependencies=probe,
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "the database does not answer"}},
    )
    async def ready() -> Response:
        """The API can serve: the database answers."""
        try:
            await asyncio.wait_for(service.database.ping(), 2.0)
            database = "ok"
        except Exception as exc:
            database = f"error: {type(exc).__name__}: {exc}"
        healthy = database == "ok"
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", "checks": {"database": database}},
            status_code=200 if healthy else 503,
        )

    @r.get(
        "/health/consumers",
        dependencies=probe,
        responses={
            503: {
                "description": "a consumer group is not assigned yet (the same body, waiting)",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
    async def consumers() -> Response:
        """Each consumer group: state, partitions, lag, last error; whether the consumer
        polls at its idle values; 503 until all are assigned."""
        body = service.consumer_groups.describe()
        # idle: no record for CONSUMER_IDLE_AFTER_SECONDS, so the consumer polls less often
        body["polling"] = "idle" if service.idle_polling.is_idle else "busy"
        try:
            ok = await service.broker.ping(timeout=2.0)
            body["broker"] = "ok" if ok else "error: not connected"
        except Exception as exc:
            body["broker"] = f"error: {type(exc).__name__}: {exc}"
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @r.get("/metrics", dependencies=[Depends(READ_METRICS)], response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus metrics, for a token of the metrics role (Prometheus's oauth2 scrape)."""
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return r
