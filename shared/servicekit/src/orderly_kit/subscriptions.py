"""A service's handlers for one topic, by message type: ``@service.subscriber(t).on(Event)``.

The kit consumes all of a service's topics with one FastStream batch subscriber (one
consumer group per service) and routes every record to the handler of its topic and
CloudEvents type (``Messaging.handle_batch``). For the AsyncAPI
document, ``document`` declares the same handlers as typed FastStream subscribers on a
broker that never connects, so the document shows each message with its model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from faststream.kafka import KafkaBroker

from orderly_kit.messaging import EventHandler, Route, Routes
from orderly_schemas.base import Message
from orderly_schemas.cloudevents import TYPE

H = TypeVar("H", bound=EventHandler)


def of_type(*classes: type[Message]) -> Callable[[Any], bool]:
    """A FastStream filter that accepts messages whose ``ce_type`` is one of ``classes``."""
    names = frozenset(c.message_type() for c in classes)

    def accepts(msg: Any) -> bool:
        return (msg.headers or {}).get(TYPE) in names

    return accepts


class Subscription:
    """The handlers of one service on one topic, and whether the topic's partitions may be
    handled concurrently. A type of the topic that no handler takes is skipped; one the
    contract places on another topic, or does not define, is dead-lettered
    (``Messaging.handle_batch``)."""

    def __init__(self, topic: str, *, group_id: str, title: str, concurrently: bool) -> None:
        self.topic = topic
        self.group_id = group_id
        self.title = title
        self.concurrently = concurrently
        self._routes: dict[str, Route] = {}

    @property
    def routes(self) -> Routes:
        return self._routes

    def on(self, *models: type[Message]) -> Callable[[H], H]:
        """Register ``handler(event, uow)`` for messages of these types."""

        def register(handler: H) -> H:
            for model in models:
                name = model.message_type()
                if name in self._routes:
                    raise ValueError(f"{self.topic}: {name} already has a handler")
                self._routes[name] = Route(model=model, handler=handler)
            return handler

        return register

    def document(self, broker: KafkaBroker) -> None:
        """Declare the handlers on ``broker`` as typed subscribers, for AsyncAPI only."""
        subscriber = broker.subscriber(self.topic, group_id=self.group_id, title=self.title)
        by_handler: dict[EventHandler, list[type[Message]]] = {}
        for route in self._routes.values():
            by_handler.setdefault(route.handler, []).append(route.model)
        for handler, models in by_handler.items():
            subscriber(filter=of_type(*models))(_typed_stub(handler, models))


def _typed_stub(handler: EventHandler, models: list[type[Message]]) -> Callable[..., Any]:
    """A function FastStream can read the payload of: ``handler``'s name, the models' type."""
    payload: Any = models[0]
    for model in models[1:]:
        payload = payload | model

    async def stub(event: Any) -> None:
        del event

    stub.__name__ = stub.__qualname__ = getattr(handler, "__name__", "handler")
    stub.__doc__ = handler.__doc__
    stub.__annotations__ = {"event": payload, "return": None}
    return stub
