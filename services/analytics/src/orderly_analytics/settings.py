"""Settings of the analytics service, read from ANALYTICS_* environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    service_name: str = "analytics"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_analytics"
    http_port: int = 8005
