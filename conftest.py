"""Session fixtures: real PostgreSQL and Kafka, started by the test session itself.

``servers`` is an embedded PostgreSQL and a Tansu broker (or the servers named by
ORDERLY_DEV_POSTGRES_URL / ORDERLY_DEV_KAFKA_BOOTSTRAP, or testcontainers with
ORDERLY_DEV_TESTCONTAINERS=1 and a Docker engine). ``stack`` adds the six
services as separate processes on top of the same servers. ``identity`` is a development
OpenID Connect issuer whose URL every service built in the session trusts
(ORDERLY_AUTH_ISSUER); ``identity.headers(Role.SUPPORT)`` is a caller with that role.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from orderly_dev.identity import DevIssuer
from orderly_dev.servers import Kafka, Servers, start_servers, start_tansu
from orderly_dev.stack import Stack


@pytest.fixture(scope="session", autouse=True)
def identity() -> Iterator[DevIssuer]:
    """The issuer every service of the session trusts, set before any is built."""
    issuer = DevIssuer().start()
    previous = os.environ.get("ORDERLY_AUTH_ISSUER")
    os.environ["ORDERLY_AUTH_ISSUER"] = issuer.url
    yield issuer
    if previous is None:
        os.environ.pop("ORDERLY_AUTH_ISSUER", None)
    else:
        os.environ["ORDERLY_AUTH_ISSUER"] = previous
    issuer.stop()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    s = start_servers(tmp_path_factory.mktemp("servers"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kafka]:
    """A Tansu broker of the test module's own: topics, groups and offsets start empty."""
    broker = start_tansu(tmp_path_factory.mktemp("tansu"))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def stack(servers: Servers, identity: DevIssuer) -> Iterator[Stack]:
    """The whole suite running: six service processes on the session's servers."""
    st = Stack(servers=servers, partitions=4, identity=identity)
    st.prepare()
    try:
        st.start_services()
        st.run_command("inventory", "seed-demo")
        yield st
    finally:
        for proc in st.processes.values():
            proc.stop()


@pytest.fixture
def fresh_database(servers: Servers) -> str:
    """A new empty database on the session's PostgreSQL; returns its SQLAlchemy URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    servers.postgres.create_database(name)
    return servers.postgres.url(name)
