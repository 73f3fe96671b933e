"""Settings of the notification service, read from NOTIFICATION_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATION_", extra="ignore")

    holds_personal_data = True
    service_name: str = "notification"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_notification"
    http_port: int = 8004
    finance_recipient: str = Field(
        default="finance@orderly.example",
        min_length=3,
        description="where orders needing attention (a refund that kept failing) are reported",
    )
    support_recipient: str = Field(
        default="support@orderly.example",
        min_length=3,
        description="where returns needing attention (ReturnNeedsAttention) are reported",
    )
    warehouse_recipient: str = Field(
        default="warehouse@orderly.example",
        min_length=3,
        description="where low-stock alerts (LowStockDetected, BackInStock) are sent",
    )
