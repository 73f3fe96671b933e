"""The providers' webhook secrets: per provider, rotatable, never the public one in production."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orderly_payment.settings import DEV_WEBHOOK_SECRET, PaymentSettings

# Production connects encrypted (the kit's settings refuse anything else).
SERVERS: dict[str, Any] = {
    "database_url": "postgresql+psycopg://payment@db/payment?sslmode=verify-full",
    "kafka_bootstrap_servers": "kafka:9093",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_username": "payment",
    "kafka_password": "kafka-password",
}
EVERY_PROVIDER = {
    "sim-card": "card-secret",
    "sim-wallet": "wallet-secret",
    "sim-platform": "platform-secret",
}


def test_each_provider_has_its_own_secrets_the_one_to_sign_with_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "PAYMENT_WEBHOOK_SECRETS", '{"sim-card": " new-secret , old-secret ,", "sim-wallet": "w"}'
    )

    settings = PaymentSettings()

    assert settings.webhook_secrets_of("sim-card") == ["new-secret", "old-secret"]
    assert settings.webhook_secrets_of("sim-wallet") == ["w"]
    assert settings.webhook_secrets_of("sim-platform") == [DEV_WEBHOOK_SECRET]
    assert "new-secret" not in repr(settings)


def test_in_development_every_provider_uses_the_public_development_secret() -> None:
    settings = PaymentSettings()

    assert {p: settings.webhook_secrets_of(p) for p in EVERY_PROVIDER} == {
        p: [DEV_WEBHOOK_SECRET] for p in EVERY_PROVIDER
    }
    assert settings.simulated_webhook_url("sim-card") == (
        "http://127.0.0.1:8003/providers/sim-card/webhooks"
    )
    assert PaymentSettings(sim_webhook_base_url="http://payment:8080/").simulated_webhook_url(
        "sim-wallet"
    ) == ("http://payment:8080/providers/sim-wallet/webhooks")


@pytest.mark.parametrize(
    ("secrets", "missing"),
    [
        (None, "sim-card, sim-platform, sim-wallet"),
        ({"sim-card": "card-secret"}, "sim-platform, sim-wallet"),
        ({**EVERY_PROVIDER, "sim-wallet": f"wallet-secret,{DEV_WEBHOOK_SECRET}"}, "sim-wallet"),
    ],
)
def test_production_refuses_a_provider_in_use_without_secrets_of_its_own(
    secrets: dict[str, str] | None, missing: str
) -> None:
    given: dict[str, Any] = {} if secrets is None else {"webhook_secrets": secrets}

    with pytest.raises(ValidationError) as refused:
        PaymentSettings(environment="production", **SERVERS, **given)

    message = str(refused.value)
    assert (
        "in production PAYMENT_WEBHOOK_SECRETS must give every provider in use secrets of its"
        " own, never the development secret (it is public, and a provider left out gets it):"
        f" {missing}"
    ) in message
    assert "card-secret" not in message
    assert "wallet-secret" not in message


def test_production_accepts_secrets_for_the_providers_in_use_only() -> None:
    settings = PaymentSettings(
        environment="production",
        **SERVERS,
        providers={"credit_card": "sim-card"},
        webhook_secrets={"sim-card": "card-secret"},
    )

    assert settings.webhook_secrets_of("sim-card") == ["card-secret"]


def test_an_empty_list_or_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ValidationError) as empty:
        PaymentSettings(webhook_secrets={"sim-card": " , "})
    with pytest.raises(ValidationError) as unknown:
        PaymentSettings(webhook_secrets={"sim-crad": "a-secret"})

    assert "PAYMENT_WEBHOOK_SECRETS gives sim-card no secret" in str(empty.value)
    assert "webhook_secrets.sim-crad.[key]" in str(unknown.value)
    assert "Input should be 'sim-card', 'sim-wallet' or 'sim-platform'" in str(unknown.value)
    assert "a-secret" not in str(unknown.value)
