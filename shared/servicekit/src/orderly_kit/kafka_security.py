"""How a process proves who it is to Kafka and keeps the connection private.

One description, built from a service's settings (``ServiceSettings.kafka_security()``),
gives every Kafka client the kit makes the same security: FastStream's broker
(``faststream_security``) and aiokafka's producers, consumers and admin clients
(``client_options``). The local stack (Tansu) and the tests use ``PLAINTEXT``; production
uses SASL/SCRAM over TLS (``SASL_SSL``), each service with its own Kafka user, which the
broker's ACLs allow only the topics and consumer group that service uses.

The password is a ``SecretStr``: it reaches aiokafka as text only when a client is built,
and neither this object's repr nor the settings' show it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final, Literal

from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)
from pydantic import SecretStr

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

#: The protocols that encrypt the connection (TLS).
ENCRYPTED: Final[frozenset[str]] = frozenset({"SSL", "SASL_SSL"})
#: The protocols that authenticate with a user name and password.
AUTHENTICATED: Final[frozenset[str]] = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})

_FASTSTREAM_SASL: Final = {
    "SCRAM-SHA-512": SASLScram512,
    "SCRAM-SHA-256": SASLScram256,
    "PLAIN": SASLPlaintext,
}


@dataclass(frozen=True)
class KafkaSecurity:
    """The security of every connection a process makes to Kafka."""

    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    #: PEM file of the CA that signed the brokers' certificates; None: the system's CAs.
    ca_file: str | None = None

    @property
    def encrypted(self) -> bool:
        return self.protocol in ENCRYPTED

    @property
    def authenticated(self) -> bool:
        return self.protocol in AUTHENTICATED

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context that verifies the brokers (their certificate and host name)."""
        if not self.encrypted:
            return None
        try:
            return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"the Kafka CA file {self.ca_file} cannot be read: {exc}") from exc

    def _credentials(self) -> tuple[str, str]:
        if self.username is None or self.password is None:
            raise ValueError(f"{self.protocol} needs a Kafka user name and password")
        return self.username, self.password.get_secret_value()

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for an aiokafka producer, consumer or admin client."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.encrypted:
            options["ssl_context"] = self.ssl_context
        if self.authenticated:
            username, password = self._credentials()
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": username,
                "sasl_plain_password": password,
            }
        return options

    def faststream_security(self) -> BaseSecurity | None:
        """The same, as FastStream's KafkaBroker takes it (``security=``)."""
        if self.authenticated:
            username, password = self._credentials()
            sasl = _FASTSTREAM_SASL[self.sasl_mechanism]
            return sasl(username, password, ssl_context=self.ssl_context, use_ssl=self.encrypted)
        if self.encrypted:
            return BaseSecurity(ssl_context=self.ssl_context, use_ssl=True)
        return None


#: No encryption, no authentication: the local broker and the tests.
PLAINTEXT: Final = KafkaSecurity()
