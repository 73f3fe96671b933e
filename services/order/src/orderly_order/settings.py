"""Settings of the order service, read from ORDER_* environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDER_", extra="ignore")

    service_name: str = "order"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_order"
    http_port: int = 8001
