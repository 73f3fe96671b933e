"""A consumer group's state follows its workers' rebalances: assigned only when every
worker that gave partitions back has received its new share."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from orderly_kit.consumers import ConsumerGroupHealth, ConsumerGroups, GroupState


def tps(*partitions: int) -> set[TopicPartition]:
    return {TopicPartition("t", p) for p in partitions}


def a_group(lag_warning: int = 1000) -> ConsumerGroupHealth:
    return ConsumerGroupHealth(
        service="svc", group="orderly.svc", topics=("t",), workers=2, lag_warning=lag_warning
    )


def state(group: ConsumerGroupHealth) -> GroupState:
    """The group's state read afresh: an ``assert state(group) is X`` narrows the attribute
    for mypy, which does not see that the calls after it change the state."""
    return group.state


def test_a_group_is_joining_until_every_worker_has_started_and_been_assigned() -> None:
    group = a_group()
    group.starting()
    for _ in range(2):  # each worker's first join: revoke nothing, then its share
        group.revoked(set())
    group.assigned(tps(0, 1))
    assert state(group) is GroupState.JOINING
    group.assigned(tps(2, 3))
    group.started()

    assert state(group) is GroupState.ASSIGNED
    assert group.partitions == tps(0, 1, 2, 3)
    assert group.describe()["partitions"] == {"t": [0, 1, 2, 3]}
    assert group.assigned_after_seconds is not None


def test_a_rebalance_is_over_when_the_last_worker_gets_its_share() -> None:
    group = a_group()
    group.starting()
    group.started()
    group.revoked(tps(0, 1))
    group.revoked(tps(2, 3))
    assert state(group) is GroupState.REBALANCING
    group.assigned(tps(0))
    assert state(group) is GroupState.REBALANCING
    group.assigned(tps(1))

    assert state(group) is GroupState.ASSIGNED
    assert group.partitions == tps(0, 1)  # another process took 2 and 3


def test_a_failed_start_is_reported_with_its_error_until_a_retry_succeeds() -> None:
    group = a_group()
    group.starting()
    group.failed(ConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]"))
    assert state(group) is GroupState.FAILING
    assert group.error == "ConnectionError: Unable to bootstrap from [('127.0.0.1', 1)]"

    group.starting()  # the retry: still failing until it has joined
    assert state(group) is GroupState.FAILING
    group.started()
    assert state(group) is GroupState.ASSIGNED
    assert group.error is None
    assert group.start_attempts == 2


def test_lagging_is_past_the_warning_not_at_it() -> None:
    group = a_group(lag_warning=10)
    group.lag = 10
    assert not group.lagging
    group.lag = 11
    assert group.lagging


async def test_waiting_for_all_groups_names_the_ones_still_joining() -> None:
    groups = ConsumerGroups("svc")
    done = groups.add(a_group())
    done.started()
    groups.add(
        ConsumerGroupHealth(service="other", group="orderly.other", topics=("u",), workers=1)
    )

    with pytest.raises(TimeoutError, match=r"orderly\.other joining$"):
        await groups.wait_all_assigned(0.1)
    assert groups.describe()["waiting"] == ["orderly.other (joining)"]
