"""The carrier settings: the webhook's own URL by default, secrets required in production."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orderly_inventory.settings import InventorySettings

# Production connects encrypted (the kit's settings refuse anything else).
SERVERS: dict[str, Any] = {
    "database_url": "postgresql+psycopg://inventory@db/orderly_inventory?sslmode=verify-full",
    "kafka_bootstrap_servers": "kafka:9093",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_username": "inventory",
    "kafka_password": "kafka-password",
    # Ship-to addresses are personal data: production keys of its own (base64, 32 bytes).
    "data_keys": {"prod-1": "cHJvZHVjdGlvbi1rZXktZW5jcnlwdGlvbi1rZXktMDE="},
    "data_key_id": "prod-1",
    "data_lookup_key": "cHJvZHVjdGlvbi1sb29rdXAta2V5LW9mLTMyYnl0ZXM=",
}


def test_the_simulated_carrier_calls_the_service_itself_by_default() -> None:
    settings = InventorySettings(http_port=8123, carrier_name="SimPost Express")

    assert settings.webhook_url == "http://127.0.0.1:8123/carriers/simpost-express/webhooks"


def test_secrets_are_a_comma_separated_list_the_first_signing() -> None:
    settings = InventorySettings(carrier_webhook_secrets=" new-secret , old-secret ,")

    assert settings.webhook_secrets == ["new-secret", "old-secret"]
    assert "new-secret" not in repr(settings)  # never logged


@pytest.mark.parametrize(
    "secrets", [None, "orderly-development-carrier-webhook-secret,ours"], ids=["unset", "dev"]
)
def test_production_refuses_to_start_without_secrets_of_its_own(secrets: str | None) -> None:
    given: dict[str, Any] = {} if secrets is None else {"carrier_webhook_secrets": secrets}

    with pytest.raises(ValidationError) as refused:
        InventorySettings(environment="production", **SERVERS, **given)

    assert "INVENTORY_CARRIER_WEBHOOK_SECRETS must be set to secrets of your own" in str(
        refused.value
    )


def test_production_starts_with_its_own_secret() -> None:
    settings = InventorySettings(
        environment="production", **SERVERS, carrier_webhook_secrets="a-long-random-secret"
    )

    assert settings.webhook_secrets == ["a-long-random-secret"]


def test_tracking_updates_must_come_in_order() -> None:
    with pytest.raises(ValidationError) as refused:
        InventorySettings(
            carrier_in_transit_after_seconds=4, carrier_out_for_delivery_after_seconds=2
        )

    assert (
        "INVENTORY_CARRIER_IN_TRANSIT_AFTER_SECONDS (4.0) must not be later than"
        " INVENTORY_CARRIER_OUT_FOR_DELIVERY_AFTER_SECONDS (2.0)"
    ) in str(refused.value)
