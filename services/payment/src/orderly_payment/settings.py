"""Settings of the payment service, read from PAYMENT_* environment variables."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings
from orderly_schemas.checkout import PaymentMethod

#: The simulated adapters: one per kind of provider, each its own provider (name, webhook).
ProviderAdapter = Literal["sim-card", "sim-wallet", "sim-platform"]
DEFAULT_PROVIDERS: Final[dict[PaymentMethod, ProviderAdapter]] = {
    "credit_card": "sim-card",
    "debit_card": "sim-card",
    "mobile_wallet": "sim-wallet",
    "third_party": "sim-platform",
}


class PaymentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")

    service_name: str = "payment"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_payment"
    http_port: int = 8003
    providers: dict[PaymentMethod, ProviderAdapter] = Field(
        default_factory=lambda: dict(DEFAULT_PROVIDERS),
        description="the provider adapter of each payment method, as JSON, e.g."
        ' {"credit_card": "sim-card", "mobile_wallet": "sim-wallet"}; a method left out'
        " cannot be paid with. The simulated adapters keep their record in this service's"
        " database and answer by token (tok_decline…, tok_timeout…, tok_webhook…,"
        " tok_refundfail…, tok_refundflaky…, tok_hold…)",
    )
    sim_webhook_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        description="how long a simulated provider takes to answer a tok_webhook… payment by"
        " webhook",
    )
    sim_hold_seconds: float = Field(
        default=30.0,
        ge=0,
        description="how long a simulated provider keeps back its answer to the capture of a"
        " tok_hold… payment (the first call only), as a lost response would",
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
