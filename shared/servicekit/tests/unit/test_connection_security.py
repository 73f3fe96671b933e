"""How a service connects: plaintext on the local stack, encrypted in production unless told.

Kafka: SASL/SCRAM over TLS with the service's own user; the password never shows. PostgreSQL:
``sslmode`` in the URL. Production refuses an unencrypted broker or database connection
unless ``<PREFIX>KAFKA_ALLOW_PLAINTEXT`` or ``<PREFIX>DATABASE_ALLOW_PLAINTEXT`` says so.
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path
from typing import Any

import pytest
from faststream.security import BaseSecurity, SASLScram512
from pydantic import ValidationError

from orderly_kit.db import new_metadata
from orderly_kit.kafka_security import PLAINTEXT, KafkaSecurity
from orderly_kit.messaging_tables import add_messaging_tables
from orderly_kit.service import build_service
from orderly_kit.settings import ServiceSettings


class ShopSettings(ServiceSettings):
    """A service's settings, with its own prefix, as each service declares them."""

    model_config = {"env_prefix": "SHOP_", "extra": "ignore"}


SECURE: dict[str, Any] = {
    "database_url": "postgresql+psycopg://shop:pw@db.internal/shop?sslmode=verify-full",
    "kafka_bootstrap_servers": "orderly-kafka-bootstrap:9093",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_username": "shop",
    "kafka_password": "scram-password-from-the-secret",
}


def production(**changes: Any) -> ShopSettings:
    given = {**SECURE, **changes}
    return ShopSettings(environment="production", **{k: v for k, v in given.items() if v})


def refusal(**changes: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        production(**changes)
    return str(refused.value)


def test_the_local_stack_connects_in_plaintext_by_default() -> None:
    settings = ShopSettings()

    assert settings.kafka_security() == PLAINTEXT
    assert PLAINTEXT.client_options() == {"security_protocol": "PLAINTEXT"}
    assert PLAINTEXT.faststream_security() is None


def test_production_signs_in_with_scram_over_tls() -> None:
    security = production().kafka_security()

    options = security.client_options()
    faststream = security.faststream_security()

    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "shop"
    assert options["sasl_plain_password"] == "scram-password-from-the-secret"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert options["ssl_context"].check_hostname is True
    assert isinstance(faststream, SASLScram512)
    assert faststream.use_ssl is True
    assert faststream.ssl_context is options["ssl_context"]


def test_tls_without_a_user_is_plain_tls() -> None:
    security = KafkaSecurity(protocol="SSL")

    assert set(security.client_options()) == {"security_protocol", "ssl_context"}
    faststream = security.faststream_security()
    assert type(faststream) is BaseSecurity
    assert faststream.use_ssl is True


def test_the_password_is_never_shown() -> None:
    settings = production()
    # Short and last in the input: pydantic's echo of the input would show all of it.
    refused = refusal(kafka_security_protocol="SASL_PLAINTEXT", kafka_password="s3cr3t")

    assert "scram-password-from-the-secret" not in repr(settings)
    assert "scram-password-from-the-secret" not in str(settings.model_dump())
    assert "scram-password-from-the-secret" not in repr(settings.kafka_security())
    assert "SHOP_KAFKA_ALLOW_PLAINTEXT" in refused
    assert "s3cr3t" not in refused


def test_a_ca_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "ca.crt"
    security = production(kafka_ca_file=str(missing)).kafka_security()

    with pytest.raises(ValueError, match=f"the Kafka CA file {missing} cannot be read"):
        security.client_options()


def test_sasl_needs_a_user_and_a_password() -> None:
    message = refusal(kafka_password=None)

    assert (
        "SHOP_KAFKA_SECURITY_PROTOCOL SASL_SSL signs in as a Kafka user: set SHOP_KAFKA_PASSWORD"
    ) in message


def test_a_user_or_a_ca_file_without_the_protocol_that_uses_it_is_refused() -> None:
    user = ShopSettings.model_validate
    with pytest.raises(ValidationError, match="set SHOP_KAFKA_SECURITY_PROTOCOL to SASL_SSL"):
        user({"kafka_username": "shop", "kafka_password": "pw"})
    with pytest.raises(ValidationError, match="SHOP_KAFKA_CA_FILE is used only over TLS"):
        user({"kafka_ca_file": "/etc/kafka-ca/ca.crt"})


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_production_refuses_an_unencrypted_broker_connection(protocol: str) -> None:
    user = {} if protocol == "SASL_PLAINTEXT" else {"kafka_username": None, "kafka_password": None}

    message = refusal(kafka_security_protocol=protocol, **user)

    assert (
        f"in production the Kafka connection must be encrypted, and SHOP_KAFKA_SECURITY_PROTOCOL"
        f" is {protocol}: use SASL_SSL (or SSL), or set SHOP_KAFKA_ALLOW_PLAINTEXT=true"
    ) in message


def test_production_accepts_an_unencrypted_broker_connection_when_told_so() -> None:
    settings = production(kafka_security_protocol="SASL_PLAINTEXT", kafka_allow_plaintext=True)

    assert settings.kafka_security().client_options()["security_protocol"] == "SASL_PLAINTEXT"


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("", "no sslmode"),
        ("?sslmode=prefer", "sslmode=prefer"),
        ("?sslmode=disable", "sslmode=disable"),
    ],
)
def test_production_refuses_a_database_url_without_encryption(query: str, found: str) -> None:
    message = refusal(database_url=f"postgresql+psycopg://shop:db-password@db/shop{query}")

    assert (
        f"in production the database connection must be encrypted, and SHOP_DATABASE_URL has"
        f" {found}: add sslmode=verify-full (or verify-ca, require) to its query, or set"
        " SHOP_DATABASE_ALLOW_PLAINTEXT=true"
    ) in message
    assert "db-password" not in message


@pytest.mark.parametrize("sslmode", ["require", "verify-ca", "verify-full"])
def test_production_accepts_an_encrypted_database_connection(sslmode: str) -> None:
    url = f"postgresql+psycopg://shop:pw@db/shop?sslmode={sslmode}&sslrootcert=/etc/db-ca.crt"

    assert production(database_url=url).database_url == url


def test_production_accepts_an_unencrypted_database_connection_when_told_so() -> None:
    settings = production(
        database_url="postgresql+psycopg://shop:pw@postgres/shop", database_allow_plaintext=True
    )

    assert settings.database_allow_plaintext is True


def test_development_connects_as_told_without_encryption() -> None:
    settings = ShopSettings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:5432/shop",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_username="shop",
        kafka_password="pw",
    )

    assert settings.kafka_security().authenticated is True
    assert settings.kafka_security().encrypted is False


def test_the_settings_come_from_the_service_prefixed_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "SHOP_ENVIRONMENT": "production",
        "SHOP_DATABASE_URL": SECURE["database_url"],
        "SHOP_KAFKA_BOOTSTRAP_SERVERS": SECURE["kafka_bootstrap_servers"],
        "SHOP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "SHOP_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "SHOP_KAFKA_USERNAME": "shop",
        "SHOP_KAFKA_PASSWORD": "from-a-secret",
        "SHOP_KAFKA_CA_FILE": "/etc/orderly/kafka-ca/ca.crt",
    }.items():
        monkeypatch.setenv(name, value)

    security = ShopSettings().kafka_security()

    assert (security.protocol, security.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-256")
    assert (security.username, security.ca_file) == ("shop", "/etc/orderly/kafka-ca/ca.crt")
    assert security.password is not None
    assert security.password.get_secret_value() == "from-a-secret"


def test_the_service_broker_and_its_consumers_connect_as_the_settings_say() -> None:
    metadata = new_metadata()
    outbox, inbox = add_messaging_tables(metadata)
    settings = ShopSettings(
        service_name="shop",
        kafka_security_protocol="SASL_SSL",
        kafka_username="shop",
        kafka_password="pw",
        log_json=False,
    )

    service = build_service(
        settings,
        title="shop",
        version="0",
        metadata=metadata,
        outbox=outbox,
        inbox=inbox,
        migrations_dir=Path("."),
    )

    builder = service.broker.config.broker_config.builder  # builds each aiokafka consumer
    assert isinstance(builder, functools.partial)
    consumer_options = builder.keywords
    assert consumer_options["security_protocol"] == "SASL_SSL"
    assert consumer_options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert consumer_options["sasl_plain_username"] == "shop"
    assert isinstance(consumer_options["ssl_context"], ssl.SSLContext)
    assert service.broker.specification.security is not None
