"""Creates the topics a deployment needs (and their dead-letter topics)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from orderly_kit.kafka_security import PLAINTEXT, KafkaSecurity
from orderly_schemas.topics import ALL_TOPICS, dead_letter_topic

log = logging.getLogger(__name__)


def all_topics_with_dead_letters(topics: Iterable[str] = ALL_TOPICS) -> list[str]:
    names = list(topics)
    return names + [dead_letter_topic(t) for t in names]


async def ensure_topics(
    bootstrap_servers: str,
    *,
    partitions: int,
    topics: Iterable[str] | None = None,
    replication_factor: int = 1,
    security: KafkaSecurity = PLAINTEXT,
) -> list[str]:
    """Create the missing topics; returns the names created."""
    wanted = all_topics_with_dead_letters() if topics is None else list(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **security.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(t, num_partitions=partitions, replication_factor=replication_factor)
                    for t in missing
                ]
            )
            log.info("created topics %s", ", ".join(missing))
        return missing
    finally:
        await admin.close()
