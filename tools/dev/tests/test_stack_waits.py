"""A service process serves its API without a broker, and the stack's wait for its
consumers fails naming each group that is not assigned, with its state and error."""

from __future__ import annotations

import httpx
import pytest

from orderly_dev.servers import Servers, free_port
from orderly_dev.stack import SERVICES, ServiceProcess, Stack


def test_the_api_serves_without_a_broker_and_the_wait_names_the_failing_group(
    servers: Servers,
) -> None:
    stack = Stack(servers=servers, partitions=4)
    stack.servers.postgres.create_database("orderly_notification", drop=True)
    port = free_port()
    env = stack.service_env("notification", port)
    env["NOTIFICATION_KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"  # nobody there
    proc = ServiceProcess(
        SERVICES["notification"], port, env, servers.root / "notification-no-broker.log"
    )
    proc.start()
    try:
        proc.wait_ready(60)
        assert httpx.get(f"{proc.url}/health/ready").json()["checks"] == {"database": "ok"}

        with pytest.raises(TimeoutError) as raised:
            proc.wait_consumers(5)
    finally:
        proc.stop()

    message = str(raised.value)
    assert message.startswith("notification has consumer groups not assigned after 5s: ")
    assert "orderly.notification failing for" in message
    assert "KafkaConnectionError" in message
