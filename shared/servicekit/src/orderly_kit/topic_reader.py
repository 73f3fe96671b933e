"""Read partitions from their first record to their end, without a consumer group.

The end is the larger of ListOffsets' answer and the high watermark of the first fetch
of each partition, both taken when the read starts; the start is offset 0 (or, where
retention removed it, the first offset the broker still holds). Not ListOffsets'
earliest and latest alone: the Tansu broker (memory storage) answers those from the
order in which its writes finished, so a partition that two producers wrote at the
same moment can read as first offset 1 and end 1 while it holds records 0 and 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Final

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from orderly_kit.kafka_security import PLAINTEXT, KafkaSecurity

#: A partition that yields nothing for this long while short of its end is reported.
STALL_SECONDS: Final = 30.0


async def read_to_end(
    bootstrap: str,
    partitions: Sequence[TopicPartition],
    *,
    client_id: str,
    security: KafkaSecurity = PLAINTEXT,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``partitions`` up to their end when the read began."""
    if not partitions:
        return []
    kafka = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        # Offset 0 gone (retention): out of range resets to the first offset, never the end.
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        client_id=client_id,
        **security.client_options(),
    )
    await kafka.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:
        listed_end = await kafka.end_offsets(list(partitions))
        kafka.assign(list(partitions))
        for tp in partitions:
            kafka.seek(tp, 0)
        end: dict[TopicPartition, int] = {}
        pending = set(partitions)
        last_progress = asyncio.get_running_loop().time()
        while pending:
            batch = await kafka.getmany(*pending, timeout_ms=500)
            for tp, records in batch.items():
                found += [r for r in records if tp not in end or r.offset < end[tp]]
            if batch:
                last_progress = asyncio.get_running_loop().time()
            for tp in list(pending):
                highwater = kafka.highwater(tp)
                if highwater is None:
                    continue  # no fetch of it answered yet
                end.setdefault(tp, max(listed_end[tp], highwater))
                if await kafka.position(tp) >= end[tp]:
                    pending.discard(tp)
            if pending and asyncio.get_running_loop().time() - last_progress > STALL_SECONDS:
                stuck = ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(pending))
                raise TimeoutError(f"reading stalled on {stuck}")
    finally:
        await kafka.stop()
    return found
