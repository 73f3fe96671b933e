"""``python -m orderly_order sagas``: what an operator sees and does, on a real database."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import select, update

from orderly_dev.checkout import make_order
from orderly_kit import audit, migrations
from orderly_kit.cli import operator_name
from orderly_kit.service import Service
from orderly_order import use_cases
from orderly_order.adapters.orm import metadata, orders, outbox, saga_operator_actions
from orderly_order.bootstrap import MIGRATIONS, build
from orderly_order.entrypoints.cli import sagas
from orderly_order.settings import OrderSettings

audit_log = audit.table_in(metadata)


@pytest.fixture
async def service(fresh_database: str) -> AsyncIterator[Service]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    built = build(OrderSettings(database_url=fresh_database, log_json=False))
    yield built
    await built.database.dispose()


async def place(service: Service, seed: int, *, waited: timedelta) -> UUID:
    """An order confirmed ``waited`` ago and still waiting for stock."""
    event = make_order(random.Random(seed))
    assert isinstance(service.settings, OrderSettings)
    async with service.messaging.unit_of_work() as uow:
        await use_cases.orders.place_order(uow, event, timeouts=service.settings.timeouts())
    async with service.database.transaction() as s:
        await s.execute(
            update(orders)
            .where(orders.c.order_id == event.order_id)
            .values(status_since=datetime.now(UTC) - waited)
        )
    return event.order_id


async def test_stuck_lists_only_sagas_waiting_longer_than_the_threshold(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    old = await place(service, 1, waited=timedelta(hours=2))
    await place(service, 2, waited=timedelta(minutes=1))

    assert await sagas(service, ["stuck", "--older-than", "1h", "--json"]) == 0

    listed = json.loads(capsys.readouterr().out)
    assert [(s["order_id"], s["status"], s["awaiting"]) for s in listed] == [
        (str(old), "confirmed", "stock reservation")
    ]


async def test_stuck_says_so_when_nothing_is_stuck(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await sagas(service, ["stuck", "--older-than", "15m"]) == 0
    assert "no saga has waited longer than 0:15:00" in capsys.readouterr().out


async def test_retry_and_compensate_act_once_and_are_audited(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    order_id = await place(service, 3, waited=timedelta(hours=1))
    number = str(order_id)

    assert (
        await sagas(
            service, ["retry", number, "--reason", "inventory was down", "--operator", "ann"]
        )
        == 0
    )
    assert await sagas(service, ["compensate", number, "--reason", "customer called"]) == 0
    assert await sagas(service, ["compensate", number, "--reason", "twice"]) == 1
    assert "only an order awaiting" in capsys.readouterr().err

    async with service.database.sessions() as s:
        actions = (
            await s.execute(
                select(saga_operator_actions.c.action, saga_operator_actions.c.operator).order_by(
                    saga_operator_actions.c.id
                )
            )
        ).all()
        sent = (await s.scalars(select(outbox.c.message_type).order_by(outbox.c.id))).all()
    assert [a.action for a in actions] == ["retry", "compensate"]
    assert actions[0].operator == "ann"
    async with service.database.sessions() as s:
        audited = (
            await s.execute(
                select(
                    audit_log.c.action, audit_log.c.actor, audit_log.c.roles, audit_log.c.target
                ).order_by(audit_log.c.id)
            )
        ).all()
    assert [tuple(a) for a in audited] == [
        ("saga.retry", "ann", "operator", f"order:{order_id}"),
        ("saga.compensate", operator_name(), "operator", f"order:{order_id}"),
    ]
    assert sent == [
        "OrderConfirmed",
        "ReserveStock",
        "ReserveStock",
        "ReleaseStock",
        "OrderCancelled",
    ]


async def test_an_unknown_order_or_a_bad_duration_is_a_clear_error(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await sagas(service, ["retry", "ORD-9999999", "--reason", "x"]) == 2
    assert "no order 'ORD-9999999'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        await sagas(service, ["stuck", "--older-than", "soon"])
    assert "not a duration such as 90s" in capsys.readouterr().err
