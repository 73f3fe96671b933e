"""Settings of the payment service, read from PAYMENT_* environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings


class PaymentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")

    service_name: str = "payment"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_payment"
    http_port: int = 8003
    provider: Literal["simulated"] = Field(
        default="simulated",
        description="the payment provider adapter; 'simulated' approves all but tok_decline…",
    )
