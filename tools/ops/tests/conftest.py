"""Migrated databases of every service, copied from templates for each test."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from orderly_analytics.bootstrap import MIGRATIONS as ANALYTICS
from orderly_dev.servers import Servers
from orderly_inventory.bootstrap import MIGRATIONS as INVENTORY
from orderly_kit import migrations
from orderly_notification.bootstrap import MIGRATIONS as NOTIFICATION
from orderly_ops.invariants import Databases
from orderly_order.bootstrap import MIGRATIONS as ORDER
from orderly_payment.bootstrap import MIGRATIONS as PAYMENT
from orderly_support.bootstrap import MIGRATIONS as SUPPORT


@pytest.fixture(scope="session")
def template(servers: Servers) -> dict[str, str]:
    """One migrated database per service, copied for each test (migrating is slow)."""
    names: dict[str, str] = {}
    for service, where in (
        ("order", ORDER),
        ("inventory", INVENTORY),
        ("payment", PAYMENT),
        ("notification", NOTIFICATION),
        ("analytics", ANALYTICS),
        ("support", SUPPORT),
    ):
        name = f"tpl_{service}_{uuid.uuid4().hex[:6]}"
        servers.postgres.create_database(name)
        migrations.upgrade(where, servers.postgres.url(name))
        names[service] = name
    return names


@pytest.fixture
def dbs(servers: Servers, template: dict[str, str]) -> Databases:
    admin = create_engine(servers.postgres.url("postgres"), isolation_level="AUTOCOMMIT")
    urls: dict[str, str] = {}
    with admin.connect() as conn:
        for service, name in template.items():
            copy = f"t_{service}_{uuid.uuid4().hex[:8]}"
            conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"'))
            urls[service] = servers.postgres.url(copy)
    admin.dispose()
    return Databases(**urls)
