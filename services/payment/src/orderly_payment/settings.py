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
        description="the payment provider adapter; 'simulated' keeps its record in this"
        " service's database and answers by token (tok_decline…, tok_refundfail…,"
        " tok_refundflaky…, tok_timeout…)",
    )
    refund_max_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="provider attempts of a refund before RefundFailed is announced",
    )
    refund_retry_backoff_seconds: float = Field(
        default=30.0,
        gt=0,
        description="wait after a refund's first failed attempt; doubles after each one",
    )
    refund_retry_backoff_max_seconds: float = Field(
        default=900.0, gt=0, description="the longest wait between two attempts of a refund"
    )
    refund_retry_poll_seconds: float = Field(
        default=1.0, gt=0, description="how often due refund retries are looked for"
    )
