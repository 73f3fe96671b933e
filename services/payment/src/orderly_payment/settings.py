"""Settings of the payment service, read from PAYMENT_* environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings


class PaymentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")

    service_name: str = "payment"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_payment"
    http_port: int = 8003
