"""Settings of the order service, read from ORDER_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDER_", extra="ignore")

    service_name: str = "order"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_order"
    http_port: int = 8001
    auto_complete_after_seconds: float = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="a delivered order completes on its own after this long",
    )
    auto_complete_poll_seconds: float = Field(default=1.0, gt=0)
