"""Settings of the payment service, read from PAYMENT_* environment variables."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings
from orderly_kit.webhook_signature import split_secrets
from orderly_schemas.checkout import PaymentMethod

#: The simulated adapters: one per kind of provider, each its own provider (name, webhook).
ProviderAdapter = Literal["sim-card", "sim-wallet", "sim-platform"]
DEFAULT_PROVIDERS: Final[dict[PaymentMethod, ProviderAdapter]] = {
    "credit_card": "sim-card",
    "debit_card": "sim-card",
    "mobile_wallet": "sim-wallet",
    "third_party": "sim-platform",
}

#: Signs and verifies provider webhooks in development and tests only: production must set
#: PAYMENT_WEBHOOK_SECRETS for every provider in use.
DEV_WEBHOOK_SECRET = "orderly-development-payment-webhook-secret"  # noqa: S105 - public on purpose


class PaymentSettings(ServiceSettings):
    # Inputs are left out of validation errors: PAYMENT_WEBHOOK_SECRETS holds secrets, and a
    # model-wide check would print every input. Errors still name the setting and the rule.
    model_config = SettingsConfigDict(
        env_prefix="PAYMENT_", extra="ignore", hide_input_in_errors=True
    )

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
    webhook_secrets: dict[ProviderAdapter, SecretStr] = Field(
        default_factory=dict,
        description="JSON: provider name → the comma-separated HMAC secrets its webhooks"
        " (POST /providers/<name>/webhooks, header Orderly-Signature) may be signed with, e.g."
        ' {"sim-card": "new-secret,old-secret", "sim-wallet": "another-secret"}. Any one is'
        " accepted, so a secret can be rotated: put the new one first, keep the old one until"
        " the provider signs with the new; the simulated providers sign with the first. A"
        " provider left out uses the public development secret, which production refuses:"
        " there every provider in use needs secrets of its own",
    )
    webhook_tolerance_seconds: float = Field(
        default=300.0,
        gt=0,
        description="a provider webhook whose signature timestamp is further than this from now"
        " is refused (a replay within it is refused by its delivery id)",
    )
    sim_webhook_base_url: str | None = Field(
        default=None,
        description="where the simulated providers send their webhooks:"
        " <this>/providers/<name>/webhooks; by default this service's own endpoint,"
        " http://127.0.0.1:<http_port>",
    )
    sim_webhook_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="how often the simulated providers send their due webhooks (and retry the"
        " ones not accepted, with backoff)",
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
        default=5.0,
        gt=0,
        description="how often due refund retries are looked for (the first waits"
        " PAYMENT_REFUND_RETRY_BACKOFF_SECONDS, 30 by default)",
    )

    @model_validator(mode="after")
    def _webhook_secrets_are_sound(self) -> PaymentSettings:
        empty = sorted(
            name
            for name, value in self.webhook_secrets.items()
            if not split_secrets(value.get_secret_value())
        )
        if empty:
            raise ValueError(
                f"PAYMENT_WEBHOOK_SECRETS gives {', '.join(empty)} no secret: list at least one"
                " per provider, comma-separated"
            )
        if self.environment == "production":
            public = sorted(
                name
                for name in set(self.providers.values())
                if DEV_WEBHOOK_SECRET in self.webhook_secrets_of(name)
            )
            if public:
                raise ValueError(
                    "in production PAYMENT_WEBHOOK_SECRETS must give every provider in use"
                    " secrets of its own, never the development secret (it is public, and a"
                    " provider left out gets it): " + ", ".join(public)
                )
        return self

    def webhook_secrets_of(self, provider: str) -> list[str]:
        """The secrets a provider's webhooks may be signed with, the one to sign with first."""
        by_name: dict[str, SecretStr] = dict(self.webhook_secrets.items())
        configured = by_name.get(provider)
        if configured is None:
            return [DEV_WEBHOOK_SECRET]
        return split_secrets(configured.get_secret_value())

    def simulated_webhook_url(self, provider: str) -> str:
        """Where the simulated provider ``provider`` sends its webhooks."""
        base = self.sim_webhook_base_url or f"http://127.0.0.1:{self.http_port}"
        return f"{base.rstrip('/')}/providers/{provider}/webhooks"
