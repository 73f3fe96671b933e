"""The inventory service on a fresh, migrated database, with east (priority 1) and west (2).

``inventory`` is a small driver: it sends commands through the real handlers, each
in its own unit of work, and reads back stock rows and the outbox as a user would.
``client`` calls the HTTP API as wes of the warehouse staff; ``staff("ann")`` are the
headers of a request by another of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import insert, select, text

from orderly_dev.eventually import eventually
from orderly_dev.identity import DevIssuer
from orderly_dev.servers import Kafka, serve_http
from orderly_dev.watch import OrderWatcher, Seen
from orderly_inventory import use_cases
from orderly_inventory.adapters import orm
from orderly_inventory.adapters.carrier import Carrier, SimulatedCarrier
from orderly_inventory.adapters.stock import StockRepository
from orderly_inventory.bootstrap import MIGRATIONS, build
from orderly_inventory.domain.allocation import Policy
from orderly_inventory.domain.ledger import Movement, MovementKind
from orderly_inventory.domain.regions import NO_REGIONS
from orderly_inventory.settings import DEV_WEBHOOK_SECRET, InventorySettings
from orderly_inventory.use_cases import ledger
from orderly_kit import migrations
from orderly_kit.auth import Role
from orderly_kit.clock import ManualClock
from orderly_kit.personal_data import development_vault
from orderly_kit.service import Service
from orderly_schemas import topics
from orderly_schemas.base import StockLine
from orderly_schemas.checkout import Address
from orderly_schemas.cloudevents import Envelope
from orderly_schemas.inventory import (
    BookReturnParcel,
    InventoryCommand,
    ReleaseStock,
    ReserveStock,
    ShipOrder,
    ShipReplacement,
)
from orderly_schemas.personal import SHIPPING_ADDRESS, SealedPersonalData

ADDRESS = Address(
    name="Ada Lovelace", line1="1 Market Street", city="London", postal_code="N1 9GU", country="GB"
)
TTL = timedelta(minutes=30)
#: The customer the commands ship to.
CUSTOMER_ID = "C-ADA"
#: Seals as the order service does, with the development keys the service holds too.
SEALER = development_vault()


def sealed_address(address: Address, customer_id: str = CUSTOMER_ID) -> SealedPersonalData:
    """``address`` as the order service sends it: sealed under the customer's data key."""
    key = hashlib.sha256(customer_id.encode()).digest()
    return SEALER.sealed_data(key, customer_id, {SHIPPING_ADDRESS: address.model_dump_json()})


class Inventory:
    """Drives the handlers the way the saga would and shows what a user would see."""

    def __init__(self, service: Service) -> None:
        self.service = service
        #: The simulated carrier's time: parcels are booked, and their updates fall due, by
        #: it. It moves to the present when the test ships or hands over, and stands still
        #: in between, so ``send_tracking(after=...)`` counts exactly from the booking.
        self.clock = ManualClock()
        self.carrier: Carrier = SimulatedCarrier(service.database, clock=self.clock)
        #: How ReserveStock chooses warehouses; a test may change them.
        self.policy = Policy.PRIORITY
        self.regions = NO_REGIONS

    async def stock(self, sku: str, **on_hand: int) -> None:
        """Put ``on_hand`` units of ``sku`` in each named warehouse, as opening stock."""
        async with self.service.messaging.unit_of_work() as uow:
            await ledger.move(
                uow,
                (
                    Movement(
                        sku=sku,
                        warehouse=w,
                        kind=MovementKind.OPENING,
                        quantity=n,
                        on_hand=n,
                        reason="opening stock",
                        actor="test",
                    )
                    for w, n in sorted(on_hand.items())
                ),
                at=datetime.now(UTC),
            )

    async def discrepancies(self) -> list[str]:
        """Every way the stock levels disagree with the ledger (none, always)."""
        async with self.service.database.sessions() as s:
            return [str(d) for d in await StockRepository(s).discrepancies()]

    async def levels(self, sku: str) -> dict[str, tuple[int, int]]:
        """warehouse → (on hand, reserved) of ``sku``."""
        c = orm.stock_levels.c
        query = select(c.warehouse, c.on_hand, c.reserved).where(c.sku == sku)
        async with self.service.database.sessions() as s:
            return {w: (on_hand, reserved) for w, on_hand, reserved in await s.execute(query)}

    async def reservations(self, order_id: UUID) -> list[tuple[str, str, int, str]]:
        c = orm.reservations.c
        query = (
            select(c.sku, c.warehouse, c.quantity, c.status)
            .where(c.order_id == order_id)
            .order_by(c.sku, c.warehouse)
        )
        async with self.service.database.sessions() as s:
            return [tuple(r) for r in await s.execute(query)]

    async def published(self) -> list[tuple[str, dict[str, Any]]]:
        """(type, body) of every message written to the outbox, oldest first."""
        c = orm.outbox.c
        async with self.service.database.sessions() as s:
            rows = await s.execute(select(c.message_type, c.payload).order_by(c.id))
            return [(kind, json.loads(payload)) for kind, payload in rows]

    async def kinds(self) -> list[str]:
        return [kind for kind, _ in await self.published()]

    async def movements_of(self, sku: str) -> list[tuple[str, str, int, int, str]]:
        """(kind, warehouse, on hand delta, reserved delta, actor) of each movement of ``sku``."""
        c = orm.stock_movements.c
        query = (
            select(c.kind, c.warehouse, c.on_hand_delta, c.reserved_delta, c.actor)
            .where(c.sku == sku)
            .order_by(c.id)
        )
        async with self.service.database.sessions() as s:
            return [tuple(r) for r in await s.execute(query)]

    async def sent(self, *types: str) -> list[tuple[str, str | None, dict[str, Any]]]:
        """(type, key, body) of the outbox's messages of ``types``, oldest first."""
        c = orm.outbox.c
        query = (
            select(c.message_type, c.message_key, c.payload)
            .where(c.message_type.in_(types))
            .order_by(c.id)
        )
        async with self.service.database.sessions() as s:
            rows = await s.execute(query)
            return [(kind, key, json.loads(payload)) for kind, key, payload in rows]

    async def movements(self, reference: str) -> list[tuple[str, str, str, int, int, int, str]]:
        """(sku, warehouse, kind, quantity, on hand and in transit deltas, actor) of the
        movements that ``reference`` (a transfer, purchase order, return) caused, in order."""
        c = orm.stock_movements.c
        query = (
            select(
                c.sku, c.warehouse, c.kind, c.quantity, c.on_hand_delta, c.in_transit_delta, c.actor
            )
            .where(c.reference == reference)
            .order_by(c.id)
        )
        async with self.service.database.sessions() as s:
            return [tuple(r) for r in await s.execute(query)]

    async def level(self, sku: str, warehouse: str) -> dict[str, Any] | None:
        """Every column of one stock level, if it exists."""
        c = orm.stock_levels.c
        query = select(orm.stock_levels).where(c.sku == sku, c.warehouse == warehouse)
        async with self.service.database.sessions() as s:
            row = (await s.execute(query)).mappings().first()
            return None if row is None else dict(row)

    async def reasons(self, reference: str) -> list[str]:
        """The reasons of the movements ``reference`` caused, in order."""
        c = orm.stock_movements.c
        query = select(c.reason).where(c.reference == reference).order_by(c.id)
        async with self.service.database.sessions() as s:
            return list((await s.execute(query)).scalars())

    async def reserve(
        self,
        order_id: UUID,
        *lines: tuple[str, int],
        ttl: timedelta = TTL,
        ship_to: Address | None = None,
    ) -> None:
        command = ReserveStock(
            order_id=order_id,
            lines=[StockLine(sku=sku, quantity=n) for sku, n in lines],
            personal=None if ship_to is None else sealed_address(ship_to),
        )
        async with self.service.messaging.unit_of_work() as uow:
            await use_cases.fulfilment.reserve_stock(
                uow, command, ttl=ttl, policy=self.policy, regions=self.regions
            )

    async def release(self, order_id: UUID) -> None:
        async with self.service.messaging.unit_of_work() as uow:
            await use_cases.fulfilment.release_stock(
                uow, ReleaseStock(order_id=order_id, reason="cancelled")
            )

    async def ship(
        self,
        order_id: UUID,
        *,
        ship_to: Address = ADDRESS,
        pick_delay: timedelta = timedelta(0),
        cause: Envelope | None = None,
    ) -> None:
        self._carrier_catches_up()
        async with self.service.messaging.unit_of_work(cause) as uow:
            await use_cases.fulfilment.ship_order(
                uow,
                ShipOrder(order_id=order_id, personal=sealed_address(ship_to)),
                carrier=self.carrier,
                pick_delay=pick_delay,
            )

    async def book_return(self, order_id: UUID, return_id: UUID, *lines: tuple[str, int]) -> None:
        """The return saga's BookReturnParcel of ``lines`` (sku, units), sent once more."""
        self._carrier_catches_up()
        command = BookReturnParcel(
            order_id=order_id,
            return_id=return_id,
            lines=[StockLine(sku=sku, quantity=n) for sku, n in lines],
        )
        async with self.service.messaging.unit_of_work() as uow:
            await use_cases.returns.book_return_parcel(uow, command, carrier=self.carrier)

    async def ship_replacement(
        self,
        order_id: UUID,
        replacement_id: UUID,
        *lines: tuple[str, int],
        ship_to: Address = ADDRESS,
        pick_delay: timedelta = timedelta(0),
        cause: Envelope | None = None,
    ) -> None:
        """A claim's or an exchange's ShipReplacement of ``lines`` (sku, units), sent once more."""
        self._carrier_catches_up()
        command = ShipReplacement(
            order_id=order_id,
            replacement_id=replacement_id,
            lines=[StockLine(sku=sku, quantity=n) for sku, n in lines],
            reason="claim CLM-0000001: parcel lost in transit",
            personal=sealed_address(ship_to),
        )
        async with self.service.messaging.unit_of_work(cause) as uow:
            await use_cases.replacements.ship_replacement(
                uow,
                command,
                carrier=self.carrier,
                pick_delay=pick_delay,
                policy=self.policy,
                regions=self.regions,
            )

    async def hand_over_replacements(self, *, after: timedelta = timedelta(0)) -> int:
        """Run the replacements' hand-over as if ``after`` had passed; how many it handed over."""
        self._carrier_catches_up()
        return await use_cases.replacements.ship_due_replacements(
            self.service.messaging, carrier=self.carrier, now=datetime.now(UTC) + after
        )

    async def replacement(self, replacement_id: UUID) -> dict[str, Any] | None:
        """The replacement's row, if it was decided."""
        query = select(orm.replacements).where(orm.replacements.c.replacement_id == replacement_id)
        async with self.service.database.sessions() as s:
            row = (await s.execute(query)).mappings().first()
            return None if row is None else dict(row)

    async def return_parcel(self, return_id: UUID) -> dict[str, Any] | None:
        """The return's parcel row, if its booking was answered."""
        query = select(orm.return_parcels).where(orm.return_parcels.c.return_id == return_id)
        async with self.service.database.sessions() as s:
            row = (await s.execute(query)).mappings().first()
            return None if row is None else dict(row)

    async def hand_over(
        self, *, after: timedelta = timedelta(0), service: Service | None = None
    ) -> int:
        """Run the picking job as if ``after`` had passed; how many pickings it handed over."""
        self._carrier_catches_up()
        return await use_cases.fulfilment.complete_due_pickings(
            (service or self.service).messaging,
            carrier=self.carrier,
            now=datetime.now(UTC) + after,
        )

    def _carrier_catches_up(self) -> None:
        self.clock.advance(max(datetime.now(UTC) - self.clock(), timedelta(0)))

    async def shipments(self, order_id: UUID) -> list[dict[str, Any]]:
        """The order's shipment rows (its parcels), by warehouse."""
        c = orm.shipments.c
        query = select(orm.shipments).where(c.order_id == order_id).order_by(c.warehouse)
        async with self.service.database.sessions() as s:
            return [dict(r) for r in (await s.execute(query)).mappings()]

    async def shipped(self, order_id: UUID) -> list[tuple[str, str, int, str]]:
        """(sku, warehouse, units, reason) of each shipment movement of the order."""
        c = orm.stock_movements.c
        query = (
            select(c.sku, c.warehouse, c.quantity, c.reason)
            .where(c.reference == str(order_id), c.kind == "shipment")
            .order_by(c.id)
        )
        async with self.service.database.sessions() as s:
            return [tuple(r) for r in await s.execute(query)]

    async def send_tracking(
        self,
        url: str,
        *,
        after: timedelta = timedelta(0),
        at: datetime | None = None,
        carrier: SimulatedCarrier | None = None,
    ) -> int:
        """Run the simulated carrier's sender until nothing more is due, ``after`` from the
        carrier's clock (which stands still: every parcel is booked at its time).

        ``at`` gives the time instead.

        Returns how many updates it took (sent or not); one per parcel per pass, in order.
        """
        sender = carrier or self.carrier
        assert isinstance(sender, SimulatedCarrier)
        taken = 0
        async with httpx.AsyncClient() as client:
            while n := await sender.send_due_updates(
                client,
                url=url,
                secret=DEV_WEBHOOK_SECRET,
                now=at or self.clock() + after,
            ):
                taken += n
        return taken

    async def picking(self, order_id: UUID) -> tuple[str, str | None] | None:
        """(status, reason) of the order's picking, if it has one."""
        c = orm.pickings.c
        query = select(c.status, c.reason).where(c.order_id == order_id)
        async with self.service.database.sessions() as s:
            row = (await s.execute(query)).first()
        return None if row is None else (row.status, row.reason)

    async def expire(
        self,
        *,
        after: timedelta = TTL + timedelta(seconds=1),
        batch: int = use_cases.fulfilment.EXPIRY_BATCH,
    ) -> int:
        """Run the expiry job as if ``after`` had passed; how many orders expired."""
        return await use_cases.fulfilment.expire_reservations(
            self.service.messaging, batch=batch, now=datetime.now(UTC) + after
        )

    async def until_waiting(self, sessions: int) -> None:
        """Until ``sessions`` transactions wait for a lock (within 4 s)."""
        query = text("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted")

        async def waiting() -> bool:
            async with self.service.database.sessions() as s:
                waiting_now: int = await s.scalar(query)
                return waiting_now == sessions

        what = f"{sessions} transaction(s) waiting for a lock"
        await eventually(waiting, within=4, what=what, every=0.02)


@pytest.fixture
def sealed() -> SealedPersonalData:
    """The customer's address as the order service sends it in a command: sealed."""
    return sealed_address(ADDRESS)


class Saga:
    """Sends stock commands on inventory.commands.v1 as a saga does, to the test module's
    Tansu (the model's JSON keyed by its order, CloudEvents headers), and sees the answers
    on inventory.events.v1."""

    def __init__(self, kafka: Kafka, producer: AIOKafkaProducer) -> None:
        self.kafka = kafka
        self.producer = producer

    @staticmethod
    def envelope_of(command: InventoryCommand) -> Envelope:
        """A new message from the saga (a new ce_id) carrying ``command``."""
        return Envelope(
            type=command.message_type(),
            source="/test/saga",
            subject=str(command.order_id),
            correlation_id=str(command.order_id),
        )

    async def send(self, command: InventoryCommand, envelope: Envelope) -> None:
        await self.producer.send_and_wait(
            command.topic,
            command.model_dump_json().encode(),
            key=str(command.order_id).encode(),
            headers=[(k, v.encode()) for k, v in envelope.to_headers().items()],
        )

    async def answers_to_three_sends(
        self, command: InventoryCommand, answer: str
    ) -> tuple[list[Seen], Envelope]:
        """Send ``command``, then the same message again (Kafka redelivers it), then a re-send
        (a new message): the ``answer`` events of the order seen by then, and the first message.
        """
        order = command.order_id
        first = self.envelope_of(command)

        def answered() -> int:
            return watcher.types(order).count(answer)

        async with OrderWatcher(self.kafka.bootstrap, topic=topics.INVENTORY_EVENTS) as watcher:
            await self.send(command, first)
            await eventually(lambda: answered() >= 1, within=30, what="an answer")
            await self.send(command, first)  # Kafka delivers the same message again
            await self.send(command, self.envelope_of(command))  # the saga re-sends it
            # Same key, same partition: once the re-send is answered, the redelivery was handled.
            await eventually(lambda: answered() >= 2, within=15, what="2 answers")
        return [e for e in watcher.events[order] if e.type == answer], first


@pytest.fixture
async def saga(kafka: Kafka) -> AsyncIterator[Saga]:
    """A saga's producer on the test module's Tansu (``kafka``)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        yield Saga(kafka, producer)
    finally:
        await producer.stop()


@pytest.fixture
async def service(fresh_database: str, request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    """The service built (not started) on a migrated database with two warehouses.

    A test may override settings with an indirect parameter.
    """
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, fresh_database)
    overrides: dict[str, Any] = getattr(request, "param", {})
    settings: dict[str, Any] = {
        "database_url": fresh_database,
        "database_pool_size": 25,
        "log_json": False,
    }
    built = build(InventorySettings(**(settings | overrides)))
    async with built.database.transaction() as s:
        await s.execute(
            insert(orm.warehouses),
            [
                {"code": "east", "name": "East", "region": "east", "priority": 1},
                {"code": "west", "name": "West", "region": "west", "priority": 2},
            ],
        )
    yield built
    await built.database.dispose()


def serving(service: Service) -> AbstractAsyncContextManager[str]:
    """The service's HTTP API on a free local port, without its lifespan (Kafka stays off)."""
    return serve_http(service.http)


Serve = Callable[[Service], AbstractAsyncContextManager[str]]


@pytest.fixture
def serve() -> Serve:
    """``async with serve(service) as base_url``: a service's HTTP API over real HTTP."""
    return serving


@pytest.fixture
async def webhook(service: Service) -> AsyncIterator[str]:
    """The URL of the carrier webhook of the service, served over real HTTP."""
    async with serving(service) as base:
        yield f"{base}/carriers/simpost/webhooks"


@pytest.fixture
async def inventory(service: Service) -> AsyncIterator[Inventory]:
    """The driver; after the test, the stock levels must still agree with the ledger."""
    driver = Inventory(service)
    yield driver
    assert await driver.discrepancies() == []


Staff = Callable[[str], dict[str, str]]


@pytest.fixture
def staff(identity: DevIssuer) -> Staff:
    """``headers=staff("ann")``: a request by ann, of the warehouse staff (her token's subject)."""
    return lambda name: identity.headers(Role.WAREHOUSE, sub=name)


@pytest.fixture
async def client(inventory: Inventory, staff: Staff) -> AsyncIterator[httpx.AsyncClient]:
    """The service's HTTP API in-process (ASGITransport: no lifespan, so nothing consumes),
    called by wes of the warehouse staff.

    Through the driver, so that the levels must agree with the ledger after the test.
    """
    transport = httpx.ASGITransport(app=inventory.service.http)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://inventory", headers=staff("wes")
    ) as c:
        yield c
