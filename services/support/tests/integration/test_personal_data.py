"""The words customers and support write are personal data: a case's subject, its messages,
notes and the reasons of its moves, and a feedback's comment are kept only sealed under
the support service's own data key for the customer, opened when read; once the customer is
erased (CustomerErased, through the real subscriber) they open nowhere and read as erased.
Words kept in plaintext by rows written before sealing are sealed by ``customers
seal-legacy``, or cleared by the erasure. No word reaches an event or the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from faststream.kafka import KafkaBroker
from sqlalchemy import func, select, update

from orderly_dev.producer import publish
from orderly_kit.service import Service
from orderly_schemas.personal import CustomerErased
from orderly_support.adapters import orm
from orderly_support.adapters.personal_data import KEPT
from orderly_support.bootstrap import build
from orderly_support.entrypoints.cli import customers
from orderly_support.settings import SupportSettings

if TYPE_CHECKING:  # a fixture's type; test modules cannot import conftest at run time
    from services.support.tests.integration.conftest import KnownOrder, Support

#: Every word below carries the marker, which exists nowhere else.
MARKER = "wilhelmina"
SUBJECT = "the kettle from aunt Wilhelmina"
FIRST = "Wilhelmina's kettle whistles in F sharp"
NOTE = "Wilhelmina lives at 17 Hidden Lane"
REPLY = "a photo of Wilhelmina's kettle, please"
REASON = "Wilhelmina accepted a replacement"
COMMENT = "lovely mugs, says Wilhelmina"

#: (table, plaintext column) of every word kept sealed beside it (``<column>_sealed``).
TEXTS = (
    (orm.cases, "subject"),
    (orm.case_messages, "body"),
    (orm.case_notes, "body"),
    (orm.case_status_history, "reason"),
    (orm.feedback, "comment"),
)


async def worked_case(
    client: httpx.AsyncClient, support: Support, order: KnownOrder
) -> dict[str, Any]:
    """A case of the order's customer about it, noted on, answered and resolved with a
    reason; and the customer's feedback with a comment. The case as support reads it."""
    customer, agent = support.customer(order.customer_id), support.agent()
    created = await client.post(
        "/cases",
        json={
            "category": "damaged",
            "subject": SUBJECT,
            "message": FIRST,
            "order": order.order_number,
        },
        headers=customer,
    )
    assert created.status_code == 201, created.text
    url = f"/cases/{created.json()['case_id']}"
    for path, body in (("notes", NOTE), ("messages", REPLY)):
        done = await client.post(f"{url}/{path}", json={"body": body}, headers=agent)
        assert done.status_code == 201, done.text
    resolved = await client.post(
        f"{url}/status", json={"status": "resolved", "reason": REASON}, headers=agent
    )
    assert resolved.status_code == 200, resolved.text
    given = await client.put(
        f"/orders/{order.order_number}/feedback",
        json={"rating": 4, "comment": COMMENT},
        headers=customer,
    )
    assert given.status_code == 201, given.text
    shown: dict[str, Any] = (await client.get(url, headers=agent)).json()
    return shown


def words_of(case: dict[str, Any]) -> tuple[Any, ...]:
    """The words a case shows: subject, messages, notes and the reasons of its moves."""
    return (
        case["subject"],
        [m["body"] for m in case["messages"]],
        None if case["notes"] is None else [n["body"] for n in case["notes"]],
        [h["reason"] for h in case["history"]],
    )


async def stored_texts(service: Service) -> list[tuple[str, str | None, bytes | None]]:
    """(table, plaintext, sealed) of every word stored, in every table that keeps words."""
    found = []
    async with service.database.sessions() as session:
        for table, column in TEXTS:
            rows = await session.execute(select(table.c[column], table.c[f"{column}_sealed"]))
            found += [(table.name, text, sealed) for text, sealed in rows.tuples()]
    return found


async def every_row(service: Service) -> list[str]:
    """Every row of every table of the service's database, as text (lower case)."""
    rows = []
    async with service.database.sessions() as session:
        for table in orm.metadata.sorted_tables:
            found = await session.execute(select(table))
            rows += [f"{table.name}: {tuple(row)!r}".lower() for row in found.tuples()]
    return rows


async def erase(consuming: KafkaBroker, customer_id: str, *, message_id: str) -> None:
    """CustomerErased on customer.events.v1, as the order service's erase command sends it."""
    event = CustomerErased(customer_id=customer_id, occurred_at=datetime.now(UTC))
    await publish(consuming, event, message_id=message_id)


async def test_the_words_are_kept_only_sealed_and_read_back_opened(
    client: httpx.AsyncClient, support: Support, service: Service
) -> None:
    order = await support.delivered_order("C-ADA")

    case = await worked_case(client, support, order)
    seen_by_customer = await client.get(
        f"/cases/{case['case_id']}", headers=support.customer("C-ADA")
    )
    feedback = await client.get(f"/orders/{order.order_number}/feedback", headers=support.agent())

    assert words_of(case) == (
        SUBJECT,
        [FIRST, REPLY],
        [NOTE],
        [None, "first response", REASON],
    )
    assert case["erased"] is False
    assert words_of(seen_by_customer.json())[:2] == (SUBJECT, [FIRST, REPLY])
    assert (feedback.json()["comment"], feedback.json()["erased"]) == (COMMENT, False)
    stored = await stored_texts(service)
    assert {table for table, _, _ in stored} == {t.name for t, _ in TEXTS}
    assert [text for _, text, _ in stored] == [None] * len(stored)  # no plaintext column used
    sealed = [value for _, _, value in stored if value is not None]
    assert len(sealed) == 7  # subject, 2 messages, 1 note, 2 reasons, 1 comment
    assert not any(MARKER.encode() in value.lower() for value in sealed)
    # Nowhere in the database (events in the outbox and the audit log included) in plaintext,
    # though the scan sees the rows: the case's number is in its tables and its events.
    rows = await every_row(service)
    assert [row for row in rows if MARKER in row] == []
    assert {row.split(":")[0] for row in rows if case["case_number"].lower() in row} >= {
        "cases",
        "outbox",
    }


async def test_once_the_customer_is_erased_their_words_read_erased_and_nothing_new_is_kept(
    client: httpx.AsyncClient, support: Support, service: Service, consuming: KafkaBroker
) -> None:
    ada, bob = await support.delivered_order("C-ADA"), await support.delivered_order("C-BOB")
    ada_case = await worked_case(client, support, ada)
    bob_case = await worked_case(client, support, bob)
    url = f"/cases/{ada_case['case_id']}"

    await erase(consuming, "C-ADA", message_id="erasure-1")
    await erase(consuming, "C-ADA", message_id="erasure-1")  # redelivered: changes nothing
    by_support = await client.get(url, headers=support.agent())
    by_customer = await client.get(url, headers=support.customer("C-ADA"))
    listed = await client.get("/cases", headers=support.agent())
    feedback = await client.get(f"/orders/{ada.order_number}/feedback", headers=support.agent())
    bob_now = await client.get(f"/cases/{bob_case['case_id']}", headers=support.agent())
    new_case = await client.post(
        "/cases",
        json={"category": "other", "subject": "again", "message": "hello", "customer_id": "C-ADA"},
        headers=support.agent(),
    )
    new_note = await client.post(f"{url}/notes", json={"body": "still"}, headers=support.agent())
    reopened = await client.post(f"{url}/status", json={"status": "open"}, headers=support.agent())

    assert by_support.json()["erased"] is True
    assert words_of(by_support.json()) == (None, [None, None], [None], [None, None, None])
    assert words_of(by_customer.json())[:2] == (None, [None, None])
    assert {c["customer_id"]: (c["subject"], c["erased"]) for c in listed.json()["items"]} == {
        "C-ADA": (None, True),
        "C-BOB": (SUBJECT, False),
    }
    assert (feedback.json()["rating"], feedback.json()["comment"]) == (4, None)
    assert feedback.json()["erased"] is True
    assert words_of(bob_now.json()) == words_of(bob_case)
    assert new_case.status_code == new_note.status_code == 409
    assert new_case.json()["detail"].startswith("customer C-ADA's personal data was erased")
    assert reopened.status_code == 200  # a move without words is still support's to make
    async with service.database.sessions() as session:
        key = (
            await session.execute(
                select(orm.customer_keys.c.wrapped_key, orm.customer_keys.c.erased_at).where(
                    orm.customer_keys.c.customer_id == "C-ADA"
                )
            )
        ).one()
        erasures = await session.scalar(
            select(func.count()).select_from(orm.inbox).where(orm.inbox.c.topic.like("customer%"))
        )
    assert key.wrapped_key is None
    assert key.erased_at is not None
    assert erasures == 1


async def test_words_kept_in_plaintext_before_sealing_are_sealed_by_the_command_or_erased(
    client: httpx.AsyncClient, support: Support, service: Service, consuming: KafkaBroker
) -> None:
    old, gone = await support.delivered_order("C-OLD"), await support.delivered_order("C-GONE")
    old_case = await worked_case(client, support, old)
    gone_case = await worked_case(client, support, gone)
    await as_written_before_sealing(service)
    read_before = await client.get(f"/cases/{old_case['case_id']}", headers=support.agent())

    await erase(consuming, "C-GONE", message_id="erasure-gone")
    gone_erased = await client.get(f"/cases/{gone_case['case_id']}", headers=support.agent())
    settings = service.settings
    assert isinstance(settings, SupportSettings)
    sealing = build(settings)
    assert await customers(sealing, ["seal-legacy"]) == 0
    assert await customers(sealing, ["seal-legacy"]) == 0
    old_now = await client.get(f"/cases/{old_case['case_id']}", headers=support.agent())
    gone_now = await client.get(f"/cases/{gone_case['case_id']}", headers=support.agent())
    comment = await client.get(f"/orders/{old.order_number}/feedback", headers=support.agent())

    assert words_of(read_before.json()) == words_of(old_case)  # read as they were kept
    # The erasure cleared the plaintext at once, before any sealing.
    assert words_of(gone_erased.json()) == (None, [None, None], [None], [None, None, None])
    assert words_of(old_now.json()) == words_of(old_case)
    assert comment.json()["comment"] == COMMENT
    assert words_of(gone_now.json()) == (None, [None, None], [None], [None, None, None])
    stored = await stored_texts(service)
    assert [text for _, text, _ in stored] == [None] * len(stored)
    assert sum(value is not None for _, _, value in stored) == 7  # C-OLD's, sealed again
    assert [row for row in await every_row(service) if MARKER in row] == []


async def as_written_before_sealing(service: Service) -> None:
    """Every word stored moved back into its plaintext column, as rows written before
    sealing keep it."""
    vault = service.messaging.vault
    assert vault is not None
    async with service.database.sessions() as session, session.begin():
        keys = {
            row.customer_id: vault.key_of_row(row.key_id, row.wrapped_key)
            for row in await session.execute(select(orm.customer_keys))
        }
        for kept in KEPT:
            table, sealed = kept.table, kept.table.c[kept.sealed]
            query = select(kept.row_id, kept.customer, sealed)
            if kept.of_case:
                query = query.join_from(table, orm.cases, table.c.case_id == orm.cases.c.case_id)
            rows = await session.execute(query.where(sealed.is_not(None)))
            for row_id, customer_id, value in rows.tuples():
                text = vault.open(keys[customer_id], customer_id, kept.name, value)
                await session.execute(
                    update(table)
                    .where(kept.row_id == row_id)
                    .values({kept.text: text, kept.sealed: None})
                )
