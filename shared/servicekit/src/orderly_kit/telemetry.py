"""Tracing and metrics: FastStream's own middlewares, exported over OTLP and /metrics."""

from __future__ import annotations

from typing import Any

from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import REGISTRY, CollectorRegistry


def tracer_provider(service: str, otlp_endpoint: str | None) -> TracerProvider:
    """A tracer provider for ``service``; spans are exported only when an endpoint is set."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def install_tracer_provider(provider: TracerProvider) -> None:
    # The global provider can be set once per process; later calls keep the first.
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)


def broker_middlewares(
    service: str, provider: TracerProvider, registry: CollectorRegistry = REGISTRY
) -> tuple[Any, ...]:
    """Tracing outermost, then metrics: both see retries and dead-lettering inside them."""
    return (
        KafkaTelemetryMiddleware(tracer_provider=provider),
        KafkaPrometheusMiddleware(registry=registry, app_name=service, metrics_prefix="orderly"),
    )
