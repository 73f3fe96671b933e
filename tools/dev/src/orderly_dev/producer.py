"""Send an event as its producer would, to a broker under test (FastStream's in-memory
``TestKafkaBroker``, which runs a service's real subscribers): the model's JSON, keyed by
its order (or, for an event about a customer as a whole, by the customer), with the
CloudEvents headers every consumer reads."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from orderly_schemas.base import Message
from orderly_schemas.cloudevents import Envelope


async def publish(broker: KafkaBroker, event: Message, *, message_id: str | None = None) -> None:
    """``event`` on its topic, keyed by its ``order_id`` (else its ``customer_id``:
    CustomerErased); ``message_id`` is its CloudEvents id (send one twice to see a
    redelivery), a new one if not given."""
    key = str(getattr(event, "order_id", None) or getattr(event, "customer_id"))  # noqa: B009
    ids: dict[str, Any] = {} if message_id is None else {"id": message_id}
    envelope = Envelope(type=event.message_type(), source="/test", subject=key, **ids)
    await broker.publish(
        event.model_dump_json().encode(),
        topic=event.topic,
        key=key.encode(),
        headers=envelope.to_headers(),
    )
