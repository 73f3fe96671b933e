"""The whole suite on one machine: servers, databases, topics and six service processes."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from orderly_dev.identity import DevIssuer
from orderly_dev.servers import Servers, free_port, start_servers
from orderly_kit import migrations
from orderly_kit.auth import Role
from orderly_kit.service import Service
from orderly_kit.settings import ServiceSettings
from orderly_kit.topics_admin import ensure_topics


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    package: str
    env_prefix: str

    def build(self, **settings: Any) -> Service:
        """The service wired in this process as its bootstrap wires it, its settings from the
        environment but for ``settings``; nothing connects until it starts."""
        bootstrap = importlib.import_module(f"{self.package}.bootstrap")
        settings_module = importlib.import_module(f"{self.package}.settings")
        settings_class = next(
            v
            for v in vars(settings_module).values()
            if isinstance(v, type) and issubclass(v, ServiceSettings) and v is not ServiceSettings
        )
        service: Service = bootstrap.build(settings_class(**settings))
        return service

    def migrate(self, database_url: str) -> None:
        """Bring the service's database at ``database_url`` to its newest schema."""
        bootstrap = importlib.import_module(f"{self.package}.bootstrap")
        migrations.upgrade(bootstrap.MIGRATIONS, database_url)


SERVICES: dict[str, ServiceSpec] = {
    s.name: s
    for s in (
        ServiceSpec("order", "orderly_order", "ORDER_"),
        ServiceSpec("inventory", "orderly_inventory", "INVENTORY_"),
        ServiceSpec("payment", "orderly_payment", "PAYMENT_"),
        ServiceSpec("notification", "orderly_notification", "NOTIFICATION_"),
        ServiceSpec("analytics", "orderly_analytics", "ANALYTICS_"),
        ServiceSpec("support", "orderly_support", "SUPPORT_"),
    )
}


#: Local runs use short delays so that orders complete within seconds.
DEV_DEFAULTS: dict[str, dict[str, str]] = {
    "order": {"ORDER_AUTO_COMPLETE_AFTER_SECONDS": "2"},
    "inventory": {
        # The simulated carrier's tracking webhooks: in transit, out for delivery, delivered.
        "INVENTORY_CARRIER_IN_TRANSIT_AFTER_SECONDS": "0.2",
        "INVENTORY_CARRIER_OUT_FOR_DELIVERY_AFTER_SECONDS": "0.6",
        "INVENTORY_DELIVERY_DELAY_SECONDS": "1",
        # ... and a return parcel's: in transit, then delivered to the warehouse.
        "INVENTORY_CARRIER_RETURN_IN_TRANSIT_AFTER_SECONDS": "0.2",
        "INVENTORY_CARRIER_RETURN_DELIVERED_AFTER_SECONDS": "1",
    },
}


#: Waits sized from ``make bench-startup`` (README, Operations): the API serves within a
#: few seconds of start; every group is assigned within about two session timeouts
#: after a restart, one after a fresh start. Generous multiples, since this machine is
#: shared and the fault tests restart services under load.
API_READY_TIMEOUT = 60.0
CONSUMERS_ASSIGNED_TIMEOUT = 90.0


def database_name(service: str) -> str:
    return f"orderly_{service}"


@dataclass
class ServiceProcess:
    spec: ServiceSpec
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", self.spec.package, "serve"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL by default: no chance to clean up)."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    def wait_ready(self, timeout: float = API_READY_TIMEOUT) -> None:
        """Wait until the HTTP API serves (its database answers)."""
        self._wait_for("/health/ready", timeout, "not ready")

    def wait_consumers(self, timeout: float = CONSUMERS_ASSIGNED_TIMEOUT) -> None:
        """Wait until every consumer group of the process is assigned; else name the others."""
        self._wait_for("/health/consumers", timeout, "has consumer groups not assigned")

    def _wait_for(self, path: str, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    f"{self.spec.name} exited with {self.proc and self.proc.returncode};"
                    f" log: {self.log_path}\n{tail(self.log_path)}"
                )
            try:
                r = httpx.get(f"{self.url}{path}", timeout=2)
                if r.status_code == 200:
                    return
                last = _waiting_groups(r) or r.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise TimeoutError(f"{self.spec.name} {what} after {timeout}s: {last}")


def _waiting_groups(response: httpx.Response) -> str:
    """``/health/consumers``' groups still joining, with their state and last error."""
    try:
        groups = response.json().get("groups", [])
    except ValueError:
        return ""
    return "; ".join(
        f"{g['group']} {g['state']} for {g['seconds_in_state']}s"
        + (f" ({g['error']})" if g.get("error") else "")
        for g in groups
        if g.get("state") != "assigned"
    )


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Stack:
    """Servers plus service processes; ``stop()`` leaves nothing running.

    The services trust ``identity`` (a development issuer, started here unless given);
    ``headers(Role.SUPPORT)`` is what a caller with that role sends.
    """

    servers: Servers
    partitions: int = 4
    settings: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    identity: DevIssuer | None = None
    _own_identity: bool = False
    _ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.identity is None:
            self.identity = DevIssuer().start()
            self._own_identity = True

    @property
    def issuer(self) -> DevIssuer:
        assert self.identity is not None
        return self.identity

    def headers(self, *roles: Role, sub: str | None = None, **claims: object) -> dict[str, str]:
        """``Authorization`` for a caller of ``roles``, signed by the stack's issuer."""
        return self.issuer.headers(*roles, sub=sub, **claims)

    @property
    def root(self) -> Path:
        return self.servers.root

    def service_env(self, name: str, port: int) -> dict[str, str]:
        spec = SERVICES[name]
        p = spec.env_prefix
        prefixes = tuple(s.env_prefix for s in SERVICES.values())
        env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        env.update(
            {
                f"{p}DATABASE_URL": self.servers.postgres.url(database_name(name)),
                f"{p}KAFKA_BOOTSTRAP_SERVERS": self.servers.kafka.bootstrap,
                f"{p}HTTP_HOST": "127.0.0.1",
                f"{p}HTTP_PORT": str(port),
                f"{p}MIGRATE_ON_START": "true",
                f"{p}TOPIC_PARTITIONS": str(self.partitions),
                f"{p}LOG_JSON": env.get("ORDERLY_DEV_LOG_JSON", "true"),
                f"{p}DATABASE_POOL_SIZE": "8",
                # Restarted processes rejoin their groups in about one session timeout on
                # Tansu (make bench-startup); production keeps the 10 s default.
                f"{p}KAFKA_SESSION_TIMEOUT_MS": "6000",
                # Tansu answers a fetch when its wait expires, not when data arrives: every
                # hop of a saga may wait up to this long, and every consumer polls the
                # broker this often, busy or idle (Apache Kafka keeps 500). 50 ms: at
                # 8 orders/s the same latency as 20 ms for 5-11 % less CPU per saga
                # (README, Benchmarks).
                f"{p}KAFKA_FETCH_MAX_WAIT_MS": "50",
                "ORDERLY_AUTH_ISSUER": self.issuer.url,
            }
        )
        if name == "order":  # support's timeline reads the others over HTTP
            env.update(
                {
                    f"{p}{other.upper()}_URL": f"http://127.0.0.1:{self.port_of(other)}"
                    for other in ("inventory", "payment", "notification", "support")
                }
            )
        env.update(DEV_DEFAULTS.get(name, {}))
        env.update(self.settings.get(name, {}))
        return env

    def port_of(self, name: str) -> int:
        """The port service ``name`` listens on (a free one, kept from its first use)."""
        while name not in self._ports:
            port = free_port()  # not yet bound: never hand one port to two services
            if port not in self._ports.values():
                self._ports[name] = port
        return self._ports[name]

    def prepare(self, services: Iterable[str] = SERVICES) -> None:
        for name in services:
            self.servers.postgres.create_database(database_name(name))
        asyncio.run(ensure_topics(self.servers.kafka.bootstrap, partitions=self.partitions))

    def process(self, name: str) -> ServiceProcess:
        """The process of service ``name``, on a free port (made, not started, on first use)."""
        if name not in self.processes:
            port = self.port_of(name)
            self.processes[name] = ServiceProcess(
                SERVICES[name], port, self.service_env(name, port), self.root / f"{name}.log"
            )
        return self.processes[name]

    def start_services(self, services: Iterable[str] = SERVICES) -> None:
        """Start ``services`` and wait until each serves and has all its groups assigned."""
        names = list(services)
        for name in names:
            self.process(name).start()
        for name in names:
            self.processes[name].wait_ready()
        for name in names:
            self.processes[name].wait_consumers()

    def restart(self, name: str) -> None:
        """Start ``name`` again on the same port (after a kill), with the current settings;
        returns once it serves and every one of its consumer groups is assigned."""
        proc = self.processes[name]
        proc.stop()
        proc.env = self.service_env(name, proc.port)
        proc.start()
        proc.wait_ready()
        proc.wait_consumers()

    def run_command(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run ``python -m orderly_<name> <args>`` with the service's settings."""
        port = self.processes[name].port if name in self.processes else free_port()
        full_env = self.service_env(name, port) | dict(env or {})
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-m", SERVICES[name].package, *args],
            env=full_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def url(self, name: str) -> str:
        return self.processes[name].url

    def metrics(self, url: str) -> str:
        """The Prometheus text a service at ``url`` serves, read as Prometheus reads it."""
        r = httpx.get(f"{url}/metrics", headers=self.headers(Role.METRICS), timeout=10)
        r.raise_for_status()
        return r.text

    def stop(self) -> None:
        for proc in self.processes.values():
            proc.stop()
        self.servers.stop()
        if self._own_identity:
            self.issuer.stop()


def start_stack(
    *,
    root: Path | None = None,
    services: Iterable[str] = SERVICES,
    partitions: int = 4,
    settings: dict[str, dict[str, str]] | None = None,
) -> Stack:
    """Start servers and services; on failure everything started is stopped."""
    servers = start_servers(root)
    stack = Stack(servers=servers, partitions=partitions, settings=settings or {})
    try:
        names = list(services)
        stack.prepare(names)
        stack.start_services(names)
    except BaseException:
        stack.stop()
        raise
    return stack
