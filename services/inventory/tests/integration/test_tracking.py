"""Tracking: the carrier reports each parcel's progress to a signed webhook over real HTTP.

The simulated carrier schedules, per parcel, in transit (1 s), out for delivery (3 s)
and delivered (5 s) after booking; ``inventory.send_tracking(url, after=...)`` runs
its sender as if that much time had passed, against the service's webhook served by
uvicorn on a free port. Other tests sign and POST updates themselves, as a carrier
(or an attacker) would.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import select

from orderly_inventory.adapters import orm
from orderly_inventory.adapters.carrier import SimulatedCarrier, TrackingSchedule
from orderly_inventory.bootstrap import build
from orderly_inventory.settings import DEV_WEBHOOK_SECRET, InventorySettings
from orderly_kit import webhook_signature
from orderly_kit.service import Service
from orderly_schemas.checkout import Address

if TYPE_CHECKING:  # fixtures' types; test modules cannot import conftest at run time
    from services.inventory.tests.integration.conftest import Inventory, Serve

ADDRESS = Address(
    name="Ada Lovelace", line1="1 Market Street", city="London", postal_code="N1 9GU", country="GB"
)
UNDELIVERABLE = Address(
    name="Ada Lovelace", line1="1 Nowhere Lane", city="Void", postal_code="00001", country="GB"
)
ALL_DUE = timedelta(seconds=6)


async def split_order(inventory: Inventory) -> tuple[UUID, dict[str, str]]:
    """An order shipped as two parcels; warehouse → tracking number."""
    await inventory.stock("A", east=1, west=2)
    order = uuid4()
    await inventory.reserve(order, ("A", 3))
    await inventory.ship(order)
    return order, {r["warehouse"]: r["tracking_number"] for r in await inventory.shipments(order)}


def events(published: list[tuple[str, dict[str, Any]]], *kinds: str) -> list[tuple[str, Any]]:
    """(kind, tracking status or tracking number) of the tracking events, in order."""
    return [
        (k, b.get("status", b.get("tracking_number")))
        for k, b in published
        if k in (kinds or ("ShipmentTracked", "ShipmentDelivered", "ShipmentFailed"))
    ]


async def test_updates_arrive_by_webhook_and_the_last_parcel_delivered_delivers_the_order(
    inventory: Inventory, webhook: str
) -> None:
    order, numbers = await split_order(inventory)

    sent = await inventory.send_tracking(webhook, after=ALL_DUE)

    assert sent == 6
    published = await inventory.published()
    tracked = [b for k, b in published if k == "ShipmentTracked"]
    assert Counter((b["tracking_number"], b["status"]) for b in tracked) == {
        (number, status): 1
        for number in numbers.values()
        for status in ("in_transit", "out_for_delivery", "delivered")
    }
    for number in numbers.values():  # each parcel's updates in order
        assert [b["status"] for b in tracked if b["tracking_number"] == number] == [
            "in_transit",
            "out_for_delivery",
            "delivered",
        ]
    assert {b["order_id"] for b in tracked} == {str(order)}
    [(kind, delivered)] = [(k, b) for k, b in published if k.startswith("ShipmentDeliv")]
    assert published[-1] == (kind, delivered)  # once, after the last parcel's delivery
    last = max(tracked, key=lambda b: (b["status"] == "delivered", b["occurred_at"]))
    assert delivered["tracking_number"] == last["tracking_number"]
    assert delivered["shipment_id"] == last["shipment_id"]
    rows = await inventory.shipments(order)
    assert [(r["status"], r["delivered_at"] is not None) for r in rows] == [("delivered", True)] * 2
    async with inventory.service.database.sessions() as s:
        c = orm.sim_carrier_updates.c
        unsent = (await s.execute(select(c.id).where(c.sent_at.is_(None)))).all()
        history = (await s.execute(select(orm.shipment_tracking))).all()
    assert unsent == []
    assert len(history) == 6


async def test_each_update_is_sent_when_it_is_due_and_not_before(
    inventory: Inventory, webhook: str
) -> None:
    minutes = timedelta(minutes=1)
    inventory.carrier = SimulatedCarrier(
        inventory.service.database,
        clock=inventory.clock,
        schedule=TrackingSchedule(
            in_transit_after=1 * minutes,
            out_for_delivery_after=3 * minutes,
            delivered_after=5 * minutes,
        ),
    )
    await split_order(inventory)

    steps = [await inventory.send_tracking(webhook, after=n * minutes) for n in (0, 2, 4, 6, 6)]

    assert steps == [0, 2, 2, 2, 0]
    published = await inventory.published()
    assert [(k, b.get("status")) for k, b in published if k.startswith("Shipment")] == [
        *[("ShipmentTracked", "in_transit")] * 2,
        *[("ShipmentTracked", "out_for_delivery")] * 2,
        *[("ShipmentTracked", "delivered")] * 2,
        ("ShipmentDelivered", None),
    ]


async def test_a_parcel_the_carrier_cannot_deliver_fails_the_shipment_with_its_reason(
    inventory: Inventory, webhook: str
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 1))
    await inventory.ship(order, ship_to=UNDELIVERABLE)
    [parcel] = await inventory.shipments(order)
    number = parcel["tracking_number"]

    await inventory.send_tracking(webhook, after=ALL_DUE)

    published = await inventory.published()
    assert [(k, b.get("status")) for k, b in published if k.startswith("Shipment")] == [
        ("ShipmentTracked", "in_transit"),
        ("ShipmentTracked", "out_for_delivery"),
        ("ShipmentTracked", "failed"),
        ("ShipmentFailed", None),
    ]
    detail = "no such address: SimPost cannot deliver to postal code 00001"
    assert published[-2][1]["detail"] == detail
    assert published[-1][1]["reason"] == (
        f"parcel {number} from warehouse east failed in transit with SimPost: {detail}"
    )
    [row] = await inventory.shipments(order)
    assert (row["status"], row["status_detail"], row["delivered_at"]) == ("failed", detail, None)


# -- the webhook, as a carrier (or anyone else) calls it --------------------------------------
def update(number: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "delivery_id": str(uuid4()),
        "tracking_number": number,
        "status": status,
        "occurred_at": datetime.now(UTC).isoformat(),
        **extra,
    }


async def post(
    url: str,
    body: dict[str, Any] | bytes,
    *,
    secrets: list[str] | None = None,
    at: datetime | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST ``body`` to the webhook, signed with ``secrets`` at ``at`` (or ``signature``)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature is None:
        signature = webhook_signature.sign(
            raw, secrets=secrets or [DEV_WEBHOOK_SECRET], at=at or datetime.now(UTC)
        )
    if signature:
        headers[webhook_signature.HEADER] = signature
    async with httpx.AsyncClient() as client:
        return await client.post(url, content=raw, headers=headers)


async def test_a_replayed_delivery_changes_nothing(inventory: Inventory, webhook: str) -> None:
    _, numbers = await split_order(inventory)
    sent = update(numbers["east"], "in_transit")

    first = await post(webhook, sent)
    replayed = await post(webhook, sent)

    assert (first.status_code, first.json()) == (200, {"outcome": "applied"})
    assert (replayed.status_code, replayed.json()) == (200, {"outcome": "duplicate"})
    assert events(await inventory.published()) == [("ShipmentTracked", "in_transit")]


async def test_a_late_or_repeated_update_never_moves_a_parcel_backwards(
    inventory: Inventory, webhook: str
) -> None:
    order, numbers = await split_order(inventory)
    east = numbers["east"]

    answers = [
        (await post(webhook, update(east, status))).json()["outcome"]
        for status in ("out_for_delivery", "in_transit", "delivered", "in_transit", "delivered")
    ]

    assert answers == ["applied", "stale", "applied", "stale", "stale"]
    assert events(await inventory.published()) == [
        ("ShipmentTracked", "out_for_delivery"),
        ("ShipmentTracked", "delivered"),
    ]  # and no ShipmentDelivered: west is still on its way
    assert [r["status"] for r in await inventory.shipments(order)] == ["delivered", "shipped"]


async def test_a_parcel_failing_after_the_other_was_delivered_fails_the_order(
    inventory: Inventory, webhook: str
) -> None:
    order, numbers = await split_order(inventory)

    await post(webhook, update(numbers["east"], "delivered"))
    await post(webhook, update(numbers["west"], "failed", detail="parcel damaged in transit"))

    published = await inventory.published()
    assert events(published) == [
        ("ShipmentTracked", "delivered"),
        ("ShipmentTracked", "failed"),
        ("ShipmentFailed", None),
    ]
    assert published[-1][1]["reason"] == (
        f"parcel {numbers['west']} from warehouse west failed in transit with SimPost:"
        " parcel damaged in transit"
    )
    # A failed parcel stays failed: a later "delivered" is not believed.
    assert (await post(webhook, update(numbers["west"], "delivered"))).json() == {
        "outcome": "stale"
    }
    assert "ShipmentDelivered" not in await inventory.kinds()
    assert [r["status"] for r in await inventory.shipments(order)] == ["delivered", "failed"]


async def test_unsigned_or_wrongly_signed_updates_are_refused(
    inventory: Inventory, webhook: str
) -> None:
    _, numbers = await split_order(inventory)
    body = update(numbers["east"], "delivered")

    unsigned = await post(webhook, body, signature="")
    malformed = await post(webhook, body, signature="v1=abc")
    wrong_secret = await post(webhook, body, secrets=["not-our-secret"])
    tampered = await post(
        webhook,
        json.dumps({**body, "status": "failed"}).encode(),
        signature=webhook_signature.sign(
            json.dumps(body).encode(), secrets=[DEV_WEBHOOK_SECRET], at=datetime.now(UTC)
        ),
    )

    assert (unsigned.status_code, unsigned.json()) == (
        400,
        {"detail": "the Orderly-Signature header is missing"},
    )
    assert malformed.status_code == 400
    assert "t=<unix seconds>,v1=<hex HMAC-SHA256>" in malformed.json()["detail"]
    assert (wrong_secret.status_code, wrong_secret.json()) == (
        401,
        {"detail": "Orderly-Signature does not match the body with any configured secret"},
    )
    assert tampered.status_code == 401
    assert events(await inventory.published()) == []


async def test_a_stale_or_future_timestamp_is_refused(inventory: Inventory, webhook: str) -> None:
    _, numbers = await split_order(inventory)
    body = update(numbers["east"], "delivered")

    stale = await post(webhook, body, at=datetime.now(UTC) - timedelta(seconds=310))
    future = await post(webhook, body, at=datetime.now(UTC) + timedelta(seconds=310))
    recent = await post(webhook, body, at=datetime.now(UTC) - timedelta(seconds=280))

    assert stale.status_code == 401
    assert "old; at most 300s is accepted" in stale.json()["detail"]
    assert future.status_code == 401
    assert "in the future" in future.json()["detail"]
    assert recent.status_code == 200
    assert events(await inventory.published()) == [("ShipmentTracked", "delivered")]


@pytest.mark.parametrize(
    "service", [{"carrier_webhook_secrets": "the-new-secret, the-old-secret"}], indirect=True
)
async def test_either_secret_is_accepted_while_one_is_rotated(
    inventory: Inventory, webhook: str
) -> None:
    _, numbers = await split_order(inventory)

    old = await post(webhook, update(numbers["east"], "in_transit"), secrets=["the-old-secret"])
    new = await post(webhook, update(numbers["west"], "in_transit"), secrets=["the-new-secret"])
    retired = await post(webhook, update(numbers["east"], "delivered"))  # the dev default

    assert (old.status_code, new.status_code, retired.status_code) == (200, 200, 401)
    assert events(await inventory.published()) == [("ShipmentTracked", "in_transit")] * 2


async def test_unknown_carriers_parcels_and_unreadable_bodies_are_named(
    inventory: Inventory, webhook: str
) -> None:
    _, numbers = await split_order(inventory)

    other_carrier = await post(
        webhook.replace("/simpost/", "/fastship/"), update(numbers["east"], "in_transit")
    )
    other_carrier_badly_signed = await post(
        webhook.replace("/simpost/", "/fastship/"),
        update(numbers["east"], "in_transit"),
        secrets=["not-our-secret"],
    )
    unknown_parcel = await post(webhook, update("SP000000000000", "in_transit"))
    unreadable = await post(webhook, {**update(numbers["east"], "in_transit"), "status": "lost"})

    assert (other_carrier.status_code, other_carrier.json()) == (
        404,
        {"detail": "no carrier 'fastship' ships for us"},  # not which ones do
    )
    # Badly signed, it learns not even that: the signature is checked first.
    assert other_carrier_badly_signed.status_code == 401
    assert "simpost" not in other_carrier_badly_signed.text.lower()
    assert unknown_parcel.status_code == 404
    assert unknown_parcel.json()["detail"].startswith(
        "no parcel with tracking number 'SP000000000000' was shipped with SimPost"
    )
    assert unreadable.status_code == 422
    assert unreadable.json()["detail"][0]["loc"] == ["body", "status"]
    assert events(await inventory.published()) == []


# -- the simulated carrier's sender -------------------------------------------------------------
async def test_an_update_not_accepted_is_retried_with_backoff_until_it_is(
    inventory: Inventory, webhook: str
) -> None:
    order, _ = await split_order(inventory)
    nobody = "http://127.0.0.1:9/carriers/simpost/webhooks"  # the discard port: refused

    at = inventory.clock() + timedelta(seconds=2)

    tried = await inventory.send_tracking(nobody, at=at)
    again_at_once = await inventory.send_tracking(webhook, at=at + timedelta(seconds=0.9))
    delivered = await inventory.send_tracking(webhook, at=at + timedelta(seconds=10))

    assert (tried, again_at_once, delivered) == (2, 0, 6)
    async with inventory.service.database.sessions() as s:
        c = orm.sim_carrier_updates.c
        rows = (await s.execute(select(c.status, c.attempts, c.last_error, c.sent_at))).all()
    assert sorted((status, attempts) for status, attempts, *_ in rows) == sorted(
        [("in_transit", 2)] * 2 + [("out_for_delivery", 1), ("delivered", 1)] * 2
    )
    assert all(sent_at is not None and error is None for *_, error, sent_at in rows)
    assert "ShipmentDelivered" in await inventory.kinds()
    assert [r["status"] for r in await inventory.shipments(order)] == ["delivered"] * 2


async def test_an_update_for_a_parcel_not_yet_recorded_waits_and_is_sent_again(
    inventory: Inventory, webhook: str
) -> None:
    await inventory.stock("A", east=3)
    order = uuid4()
    await inventory.reserve(order, ("A", 1))
    # The carrier booked (and will report) before the ShipOrder that booked it committed.
    assert isinstance(inventory.carrier, SimulatedCarrier)
    await inventory.carrier.book(order_id=order, warehouse="east", ship_to=ADDRESS, lines=[])

    early = await inventory.send_tracking(webhook, after=timedelta(seconds=2))
    async with inventory.service.database.sessions() as s:
        c = orm.sim_carrier_updates.c
        error = await s.scalar(select(c.last_error).where(c.status == "in_transit"))
    await inventory.ship(order)
    later = await inventory.send_tracking(webhook, after=ALL_DUE)

    assert early == 1
    assert error is not None
    assert error.startswith("404: ")
    assert later == 3
    assert events(await inventory.published(), "ShipmentTracked") == [
        ("ShipmentTracked", s) for s in ("in_transit", "out_for_delivery", "delivered")
    ]


async def test_pending_updates_survive_a_restart(
    inventory: Inventory, fresh_database: str, serve: Serve
) -> None:
    order, _ = await split_order(inventory)
    await inventory.service.database.dispose()

    restarted: Service = build(InventorySettings(database_url=fresh_database, log_json=False))
    try:
        carrier = SimulatedCarrier(restarted.database)
        async with serve(restarted) as base:
            url = f"{base}/carriers/simpost/webhooks"
            sent = await inventory.send_tracking(url, after=ALL_DUE, carrier=carrier)
    finally:
        await restarted.database.dispose()

    assert sent == 6
    assert (await inventory.kinds())[-1] == "ShipmentDelivered"
    assert [r["status"] for r in await inventory.shipments(order)] == ["delivered"] * 2


# -- a return's parcel, on its way back ------------------------------------------------------------
async def returning_parcel(inventory: Inventory) -> tuple[UUID, UUID, str]:
    """A delivered order's return, booked: (order, return, its parcel's tracking number)."""
    await inventory.stock("A", west=2)
    order = uuid4()
    await inventory.reserve(order, ("A", 1))
    await inventory.ship(order)
    return_id = uuid4()
    await inventory.book_return(order, return_id, ("A", 1))
    [(_, _, booked)] = await inventory.sent("ReturnParcelBooked")
    return order, return_id, booked["tracking_number"]


async def test_a_return_parcel_is_tracked_back_to_the_warehouse_by_webhook(
    inventory: Inventory, webhook: str
) -> None:
    order, return_id, number = await returning_parcel(inventory)

    await inventory.send_tracking(webhook, after=ALL_DUE)

    tracked = await inventory.sent("ReturnParcelTracked")
    assert [(key, body["status"]) for _, key, body in tracked] == [
        (str(order), "in_transit"),
        (str(order), "delivered"),
    ]
    assert {(b["return_id"], b["carrier"], b["tracking_number"]) for *_, b in tracked} == {
        (str(return_id), "SimPost", number)
    }
    parcel = await inventory.return_parcel(return_id)
    assert parcel is not None
    assert parcel["status"] == "delivered"
    # The order's own parcel was tracked as before, and nothing of it came from the return.
    assert events(await inventory.published(), "ShipmentDelivered") == [
        ("ShipmentDelivered", (await inventory.shipments(order))[0]["tracking_number"])
    ]


async def test_a_return_parcels_replayed_or_late_update_changes_nothing(
    inventory: Inventory, webhook: str
) -> None:
    _, return_id, number = await returning_parcel(inventory)
    delivered = update(number, "delivered", detail="at the dock")

    answers = [
        (await post(webhook, body)).json()["outcome"]
        for body in (delivered, delivered, update(number, "in_transit"))
    ]

    assert answers == ["applied", "duplicate", "stale"]
    assert events(await inventory.published(), "ReturnParcelTracked") == [
        ("ReturnParcelTracked", "delivered")
    ]
    parcel = await inventory.return_parcel(return_id)
    assert parcel is not None
    assert (parcel["status"], parcel["status_detail"]) == ("delivered", "at the dock")
