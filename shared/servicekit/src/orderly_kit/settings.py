"""The settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from orderly_kit.auth import AuthSettings
from orderly_kit.kafka_security import (
    AUTHENTICATED,
    ENCRYPTED,
    KafkaSecurity,
    SaslMechanism,
    SecurityProtocol,
)
from orderly_kit.personal_data import DEVELOPMENT_KEYS, DEVELOPMENT_LOOKUP_KEY

DAY = 24 * 3600
#: The libpq sslmode values that refuse an unencrypted connection.
ENCRYPTED_SSLMODES = ("require", "verify-ca", "verify-full")


class ServiceSettings(BaseSettings):
    """Common settings. A service sets ``env_prefix`` (e.g. ``ORDER_``) in its subclass."""

    # A refused setting's error names it and says why, never echoes the input: that holds
    # the passwords and secrets of every setting.
    model_config = SettingsConfigDict(
        env_prefix="ORDERLY_", extra="ignore", hide_input_in_errors=True
    )
    #: A service that keeps customers' personal data needs keys of its own in production.
    holds_personal_data: ClassVar[bool] = False

    service_name: str = "orderly"
    environment: Literal["development", "production"] = "development"
    #: The identity provider (ORDERLY_AUTH_*): one for the whole suite.
    auth: AuthSettings = Field(default_factory=AuthSettings)
    data_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {k: SecretStr(v) for k, v in DEVELOPMENT_KEYS.items()},
        description="key-encryption keys of customers' data keys by id, as JSON of base64"
        ' 256-bit keys ({"k2": "…", "k1": "…"}); keep retired ones until rotate-keys is done',
    )
    data_key_id: str = Field(
        default="dev-1", description="the key of DATA_KEYS that wraps new and rotated data keys"
    )
    data_lookup_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_LOOKUP_KEY),
        description="base64 256-bit key of the keyed hashes personal data is looked up by",
    )
    database_url: str = Field(
        default="postgresql+psycopg://postgres@127.0.0.1:5432/orderly",
        description="SQLAlchemy URL of this service's own database",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_ping_when_idle_seconds: float = Field(
        default=5.0,
        ge=0,
        description="a pooled connection idle this long is pinged before use (0: always)",
    )
    database_allow_plaintext: bool = Field(
        default=False,
        description="in production, accept a DATABASE_URL without sslmode=require, verify-ca or"
        " verify-full (an unencrypted connection)",
    )
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="PLAINTEXT (the local broker), SASL_SSL (a Kafka user over TLS, production),"
        " SSL (TLS without a user) or SASL_PLAINTEXT (a user, unencrypted)",
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", description="how the Kafka user proves itself (SASL_*)"
    )
    kafka_username: str | None = Field(default=None, description="the Kafka user (SASL_*)")
    kafka_password: SecretStr | None = Field(
        default=None, description="the Kafka user's password (SASL_*); never logged"
    )
    kafka_ca_file: str | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL);"
        " unset: the system's CAs",
    )
    kafka_allow_plaintext: bool = Field(
        default=False,
        description="in production, accept KAFKA_SECURITY_PROTOCOL PLAINTEXT or SASL_PLAINTEXT"
        " (an unencrypted connection)",
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    http_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="a request body larger than this is refused with 413 before it is parsed"
        " (routes that take files, such as imports, declare their own limit)",
    )
    http_body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="a request body not received in full this long after its headers is"
        " answered with 408 and the connection closed",
    )
    http_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="a connection that has not sent a request's complete headers this long"
        " after it opened (or after the previous response) is answered with 408 and closed",
    )
    migrate_on_start: bool = False
    create_topics: bool = False
    topic_partitions: int = Field(default=12, ge=1)
    log_level: str = "INFO"
    log_json: bool = True
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318"
    )
    consumer_batch_max_records: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="records taken per poll; each partition's share of a poll is handled in"
        " one transaction",
    )
    consumer_batch_timeout_ms: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="how long a poll waits for records, and an empty poll sleeps, before the next",
    )
    consumer_idle_after_seconds: float = Field(
        default=10.0,
        ge=0,
        description="after this long without a record the consumer polls at the idle values"
        " (CONSUMER_BATCH_TIMEOUT_IDLE_MS, KAFKA_FETCH_MAX_WAIT_IDLE_MS) until the next"
        " batch; 0: never",
    )
    consumer_batch_timeout_idle_ms: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="CONSUMER_BATCH_TIMEOUT_MS while the consumer is idle: the first record"
        " after a quiet spell may wait this long",
    )
    kafka_fetch_max_wait_idle_ms: int = Field(
        default=1_000,
        ge=1,
        le=60_000,
        description="KAFKA_FETCH_MAX_WAIT_MS while the consumer is idle (on Tansu the first"
        " record after a quiet spell may wait this long; Apache Kafka answers on arrival)",
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=500,
        ge=1,
        le=60_000,
        description="longest a fetch waits for data on the broker. Apache Kafka answers as soon"
        " as data arrives; Tansu only when this expires, so the local stack sets it low",
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1_000,
        le=300_000,
        description=(
            "a consumer that sends no heartbeat for this long leaves its group. Apache Kafka"
            " refuses less than its group.min.session.timeout.ms (6000 by default). On"
            " Tansu a restarted process's groups settle in one to two of these"
        ),
    )
    kafka_heartbeat_interval_ms: int = Field(
        default=1_000,
        ge=100,
        description="how often a consumer tells its group it is alive (under a third of the"
        " session timeout); a rebalance is noticed within one interval",
    )
    consumer_lag_warning: int = Field(
        default=1_000,
        ge=0,
        description="/health/consumers reports a group as lagging past this many messages",
    )
    consumer_lag_interval_seconds: float = Field(
        default=15, gt=0, description="how often orderly_consumer_group_lag is recomputed"
    )
    consumer_max_attempts: int = Field(default=5, ge=1, le=100)
    consumer_retry_backoff_ms: int = Field(default=50, ge=0)
    consumer_retry_backoff_max_ms: int = Field(default=2_000, ge=0)
    outbox_batch_size: int = Field(default=500, ge=1, le=10_000)
    outbox_poll_interval_ms: int = Field(
        default=1_000,
        ge=10,
        description="the relay's fallback poll: it wakes at once when its own process commits"
        " outbox rows, so this only finds rows other processes left (an idle suite's cost)",
    )
    outbox_retention_seconds: int = Field(
        default=7 * DAY,
        ge=0,
        description="sent outbox rows older than this are deleted by housekeeping",
    )
    inbox_retention_seconds: int = Field(
        default=14 * DAY,
        ge=3600,
        description=(
            "processed inbox rows older than this are deleted by housekeeping. Must be longer"
            " than the Kafka retention of every topic this service consumes (Kafka's default"
            " is 7 days): a message redelivered from the first offset, or a dead letter"
            " replayed, must still find its inbox row, else it takes effect twice."
            " Dead-lettered rows are kept until replayed"
        ),
    )
    housekeeping_interval_seconds: float = Field(
        default=60, gt=0, description="how often the outbox and inbox are purged"
    )
    housekeeping_batch_size: int = Field(
        default=1000, ge=1, le=100_000, description="rows deleted per short transaction"
    )
    outbox_unsent_gauge_interval_seconds: float = Field(
        default=15,
        gt=0,
        description="how often orderly_outbox_unsent is counted (the relay sets it to 0"
        " whenever it finds nothing to send)",
    )
    dead_letters_gauge_interval_seconds: float = Field(
        default=30,
        gt=0,
        description="how often orderly_dead_letters_waiting is counted from the inbox (and"
        " orderly_webhook_deliveries_given_up from a webhook sender's table)",
    )
    audit_head_log_interval_seconds: float = Field(
        default=300,
        gt=0,
        description="how often the audit log's head (id and hash) is logged, when it has"
        " moved: anchors in the log store that show the newest rows were not removed",
    )

    def kafka_security(self) -> KafkaSecurity:
        """How this service's Kafka clients connect (every client the kit builds)."""
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_username,
            password=self.kafka_password,
            ca_file=self.kafka_ca_file,
        )

    @model_validator(mode="after")
    def _kafka_security_is_consistent(self) -> ServiceSettings:
        prefix = self.model_config.get("env_prefix", "")
        protocol = f"{prefix}KAFKA_SECURITY_PROTOCOL"
        if self.kafka_security_protocol in AUTHENTICATED:
            missing = [
                f"{prefix}{name.upper()}"
                for name in ("kafka_username", "kafka_password")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(
                    f"{protocol} {self.kafka_security_protocol} signs in as a Kafka user: set "
                    + " and ".join(missing)
                )
        elif self.kafka_username or self.kafka_password:
            raise ValueError(
                f"{prefix}KAFKA_USERNAME and {prefix}KAFKA_PASSWORD are used only with SASL: set"
                f" {protocol} to SASL_SSL (it is {self.kafka_security_protocol})"
            )
        if self.kafka_ca_file and self.kafka_security_protocol not in ENCRYPTED:
            raise ValueError(
                f"{prefix}KAFKA_CA_FILE is used only over TLS: set {protocol} to SASL_SSL or SSL"
                f" (it is {self.kafka_security_protocol})"
            )
        return self

    @model_validator(mode="after")
    def _production_encrypts_its_connections(self) -> ServiceSettings:
        """In production nothing travels unencrypted unless a setting says so by name."""
        if self.environment != "production":
            return self
        prefix = self.model_config.get("env_prefix", "")
        if self.kafka_security_protocol not in ENCRYPTED and not self.kafka_allow_plaintext:
            raise ValueError(
                f"in production the Kafka connection must be encrypted, and"
                f" {prefix}KAFKA_SECURITY_PROTOCOL is {self.kafka_security_protocol}: use"
                f" SASL_SSL (or SSL), or set {prefix}KAFKA_ALLOW_PLAINTEXT=true to accept an"
                " unencrypted connection"
            )
        if not self.database_allow_plaintext:
            sslmode = database_sslmode(self.database_url)
            if sslmode not in ENCRYPTED_SSLMODES:
                found = "no sslmode" if sslmode is None else f"sslmode={sslmode}"
                # Never the URL itself: it may hold the password.
                raise ValueError(
                    f"in production the database connection must be encrypted, and"
                    f" {prefix}DATABASE_URL has {found}: add sslmode=verify-full (or"
                    f" verify-ca, require) to its query, or set"
                    f" {prefix}DATABASE_ALLOW_PLAINTEXT=true to accept an unencrypted connection"
                )
        return self

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> ServiceSettings:
        if self.kafka_heartbeat_interval_ms * 3 > self.kafka_session_timeout_ms:
            prefix = self.model_config.get("env_prefix", "")
            raise ValueError(
                f"{prefix}KAFKA_HEARTBEAT_INTERVAL_MS ({self.kafka_heartbeat_interval_ms}) must"
                f" be at most a third of {prefix}KAFKA_SESSION_TIMEOUT_MS"
                f" ({self.kafka_session_timeout_ms}), so a missed heartbeat or two is survived"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_explicit_servers(self) -> ServiceSettings:
        if self.environment == "production":
            missing = [
                name
                for name in ("database_url", "kafka_bootstrap_servers")
                if name not in self.model_fields_set
            ]
            if self.auth.issuer is None:
                missing.append("ORDERLY_AUTH_ISSUER")
            if self.holds_personal_data and (
                set(self.data_keys) & set(DEVELOPMENT_KEYS)
                or self.data_lookup_key.get_secret_value() == DEVELOPMENT_LOOKUP_KEY
            ):
                missing += ["data_keys", "data_key_id", "data_lookup_key"]
            if missing:
                prefix = self.model_config.get("env_prefix", "")
                raise ValueError(
                    "in production these settings have no default and must be set: "
                    + ", ".join(n if n.isupper() else f"{prefix}{n.upper()}" for n in missing)
                )
        return self


def database_sslmode(url: str) -> str | None:
    """The ``sslmode`` a SQLAlchemy database URL asks libpq for, if any."""
    try:
        query = make_url(url).query
    except ArgumentError:  # an unparsable URL fails where it is used, with the driver's reason
        return None
    mode = query.get("sslmode")
    if isinstance(mode, tuple):  # given twice: libpq takes the last
        mode = mode[-1]
    return mode
