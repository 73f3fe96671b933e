"""Cases over HTTP on a real, migrated PostgreSQL: opened by customers and by support,
worked through their statuses with notes the customer never sees, rated, kept from other
customers, listed with filters, and their agreements' breaches announced once by the job;
every step announced through the outbox, support's assignments and moves audited."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from prometheus_client import REGISTRY

from orderly_kit.clock import ManualClock

if TYPE_CHECKING:
    from services.support.tests.integration.conftest import KnownOrder, Support


def about(order: KnownOrder | None = None, **more: Any) -> dict[str, Any]:
    """A case about a parcel that never came (about ``order``, if given)."""
    body: dict[str, Any] = {
        "category": "delivery",
        "subject": "my parcel never came",
        "message": "the tracking says delivered, but nothing is at my door",
        **more,
    }
    if order is not None:
        body["order"] = order.order_number
    return body


async def opened(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    created = await client.post("/cases", json=body, headers=headers)
    assert created.status_code == 201, created.text
    case: dict[str, Any] = created.json()
    return case


async def test_a_customer_opens_a_case_about_their_order_and_it_is_announced(
    client: httpx.AsyncClient, support: Support
) -> None:
    order = await support.order_confirmed("C-ADA")

    case = await opened(client, support.customer("C-ADA"), about(order))

    assert case["case_number"] == "CS-0000001"
    assert (case["status"], case["category"], case["customer_id"]) == ("new", "delivery", "C-ADA")
    assert (case["order_id"], case["order_number"]) == (str(order.order_id), order.order_number)
    assert case["opened_by"] == "user-C-ADA"
    assert case["notes"] is None
    assert [(m["party"], m["author"]) for m in case["messages"]] == [("customer", "user-C-ADA")]
    assert case["sla"]["first_responded_at"] is None
    [(kind, key, payload)] = await support.published()
    assert (kind, key) == ("CaseOpened", str(order.order_id))
    assert (payload["case_number"], payload["opened_by"]) == ("CS-0000001", "customer")
    assert "parcel" not in str(payload)  # no subject, no message on the topic


async def test_another_customer_s_order_or_case_is_not_found(
    client: httpx.AsyncClient, support: Support
) -> None:
    order = await support.order_confirmed("C-ADA")
    case = await opened(client, support.customer("C-ADA"), about(order))

    about_ada_s_order = await client.post(
        "/cases", json=about(order), headers=support.customer("C-BOB")
    )
    unknown_order = await client.post(
        "/cases", json={**about(), "order": "ORD-9999999"}, headers=support.customer("C-ADA")
    )
    read_by_bob = await client.get(f"/cases/{case['case_id']}", headers=support.customer("C-BOB"))
    written_by_bob = await client.post(
        f"/cases/{case['case_id']}/messages", json={"body": "hi"}, headers=support.customer("C-BOB")
    )
    for_someone_else = await client.post(
        "/cases", json=about(customer_id="C-BOB"), headers=support.customer("C-ADA")
    )

    assert about_ada_s_order.status_code == 404
    assert about_ada_s_order.json()["detail"] == f"no order {order.order_number!r}"
    assert unknown_order.status_code == 404
    assert read_by_bob.status_code == written_by_bob.status_code == 404
    assert read_by_bob.json() == {"detail": f"no case {case['case_id']!r}"}
    assert for_someone_else.status_code == 422
    assert for_someone_else.json()["detail"][0]["loc"] == ["body", "customer_id"]
    assert await support.published_types() == ["CaseOpened"]


async def test_a_case_s_life_with_notes_the_customer_never_sees(
    client: httpx.AsyncClient, support: Support, clock: ManualClock
) -> None:
    order = await support.delivered_order("C-ADA")
    ada, alice = support.customer("C-ADA"), {**support.agent("alice"), "X-Request-ID": "call-1"}
    case = await opened(client, ada, about(order, category="damaged"))
    url = f"/cases/{case['case_id']}"

    clock.advance(timedelta(hours=1))
    await client.put(f"{url}/assignee", json={"assignee": "alice"}, headers=alice)
    await client.post(f"{url}/notes", json={"body": "customer of ten years"}, headers=alice)
    answered = await client.post(f"{url}/messages", json={"body": "a photo?"}, headers=alice)
    waiting = await client.post(
        f"{url}/status", json={"status": "waiting_on_customer"}, headers=alice
    )
    clock.advance(timedelta(hours=5))
    replied = await client.post(f"{url}/messages", json={"body": "attached"}, headers=ada)
    resolved = await client.post(
        f"{url}/status", json={"status": "resolved", "reason": "replacement sent"}, headers=alice
    )
    illegal = await client.post(f"{url}/status", json={"status": "new"}, headers=alice)
    by_customer = await client.post(f"{url}/status", json={"status": "closed"}, headers=ada)
    rated = await client.post(f"{url}/satisfaction", json={"score": 5}, headers=ada)
    rated_again = await client.post(f"{url}/satisfaction", json={"score": 1}, headers=ada)
    seen_by_ada = await client.get(url, headers=ada)
    seen_by_support = await client.get(url, headers=alice)

    assert answered.json()["status"] == "open"  # the first response opened it
    assert answered.json()["sla"]["first_responded_at"] is not None
    assert waiting.json()["sla"]["resolution_paused_since"] is not None
    assert replied.json()["status"] == "open"
    assert replied.json()["sla"]["resolution_paused_seconds"] == 5 * 3600
    assert resolved.json()["status"] == "resolved"
    assert illegal.status_code == 409
    assert illegal.json()["detail"].startswith(
        f"case {case['case_number']} cannot move from resolved to new"
    )
    assert by_customer.status_code == 403
    assert rated.status_code == 200
    assert (rated.json()["status"], rated.json()["satisfaction"]) == ("closed", 5)
    assert rated_again.status_code == 409
    shown = seen_by_ada.json()
    assert shown["notes"] is None
    assert "ten years" not in seen_by_ada.text
    assert [n["body"] for n in seen_by_support.json()["notes"]] == ["customer of ten years"]
    assert [m["body"] for m in shown["messages"]] == [about()["message"], "a photo?", "attached"]
    assert [(h["from_status"], h["to_status"]) for h in shown["history"]] == [
        (None, "new"),
        ("new", "open"),
        ("open", "waiting_on_customer"),
        ("waiting_on_customer", "open"),
        ("open", "resolved"),
        ("resolved", "closed"),
    ]
    assert shown["assignee"] == "alice"
    published = await support.published()
    assert [kind for kind, _, _ in published] == [
        "CaseOpened",
        *["CaseStatusChanged"] * 5,
        "CaseClosed",
    ]
    assert {key for _, key, _ in published} == {str(order.order_id)}
    assert published[-1][2]["satisfaction"] == 5
    assert not any("photo" in str(payload) for _, _, payload in published)
    audited = await support.audited(client)
    assert [(e["action"], e["actor"], e["request_id"]) for e in audited] == [
        ("case.assign", "alice", "call-1"),
        ("case.move", "alice", "call-1"),
        ("case.move", "alice", "call-1"),
    ]
    assert (audited[2]["before"], audited[2]["after"]) == (
        {"status": "open"},
        {"status": "resolved", "reason_given": True},  # the reason is personal data
    )


async def test_support_opens_a_case_for_a_customer_without_an_order_keyed_by_the_case(
    client: httpx.AsyncClient, support: Support
) -> None:
    alice = support.agent("alice")

    nobody = await client.post("/cases", json=about(category="payment"), headers=alice)
    case = await opened(client, alice, about(category="payment", customer_id="C-ADA"))
    read_by_ada = await client.get(f"/cases/{case['case_id']}", headers=support.customer("C-ADA"))

    assert nobody.status_code == 422
    assert nobody.json()["detail"][0]["loc"] == ["body", "customer_id"]
    assert (case["customer_id"], case["opened_by"], case["status"]) == ("C-ADA", "alice", "open")
    assert case["sla"]["first_responded_at"] is not None  # its first message is support's
    assert read_by_ada.status_code == 200
    assert [(kind, key) for kind, key, _ in await support.published()] == [
        ("CaseOpened", case["case_id"]),
        ("CaseStatusChanged", case["case_id"]),
    ]


async def test_an_agreement_missed_is_announced_once_by_the_job_and_counted(
    client: httpx.AsyncClient, support: Support, clock: ManualClock
) -> None:
    order = await support.order_confirmed("C-ADA")
    payment = await opened(client, support.customer("C-ADA"), about(order, category="payment"))
    other = await opened(client, support.customer("C-ADA"), about(order, category="other"))
    await client.post(
        f"/cases/{other['case_id']}/messages", json={"body": "on it"}, headers=support.agent()
    )

    def breaches() -> float:
        labels = {"sla": "first_response", "category": "payment"}
        return REGISTRY.get_sample_value("orderly_support_sla_breaches_total", labels) or 0.0

    before = breaches()
    clock.advance(timedelta(hours=3, minutes=59))
    await support.run_job("sla-breaches")
    early = await support.published_types()
    clock.advance(timedelta(minutes=1))
    await support.run_job("sla-breaches")
    await support.run_job("sla-breaches")
    listed = await client.get("/cases", params={"breached": "true"}, headers=support.agent())

    assert "CaseSlaBreached" not in early
    breached = [p for kind, _, p in await support.published() if kind == "CaseSlaBreached"]
    assert [(p["case_id"], p["sla"]) for p in breached] == [(payment["case_id"], "first_response")]
    assert breached[0]["due_at"].startswith("2026-03-01T16:00:00")
    assert breaches() == before + 1
    assert [c["case_id"] for c in listed.json()["items"]] == [payment["case_id"]]
    assert listed.json()["items"][0]["sla"]["first_response_breached_at"] is not None


async def test_support_lists_cases_by_status_assignee_category_and_order_page_by_page(
    client: httpx.AsyncClient, support: Support, clock: ManualClock
) -> None:
    ada_order = await support.order_confirmed("C-ADA")
    ada, alice = support.customer("C-ADA"), support.agent("alice")
    numbers = []
    for category in ("delivery", "damaged", "delivery", "payment"):
        case = await opened(client, ada, about(ada_order, category=category))
        numbers.append(case["case_number"])
        clock.advance(timedelta(minutes=1))
    bob = await opened(client, support.customer("C-BOB"), about(category="delivery"))
    taken = numbers[1]
    await client.put(
        f"/cases/{(await case_of(client, taken, alice))}/assignee",
        json={"assignee": "alice"},
        headers=alice,
    )

    async def listed(**params: Any) -> list[str]:
        found = await client.get("/cases", params=params, headers=alice)
        assert found.status_code == 200, found.text
        return [c["case_number"] for c in found.json()["items"]]

    first = await client.get("/cases", params={"limit": 3}, headers=alice)
    second = await client.get(
        "/cases", params={"limit": 3, "cursor": first.json()["next"]}, headers=alice
    )

    assert [c["case_number"] for c in first.json()["items"]] == [
        bob["case_number"],
        numbers[3],
        numbers[2],
    ]
    assert [c["case_number"] for c in second.json()["items"]] == [numbers[1], numbers[0]]
    assert second.json()["next"] is None
    assert await listed(category="delivery", order=ada_order.order_number) == [
        numbers[2],
        numbers[0],
    ]
    assert await listed(assignee="alice") == [taken]
    assert await listed(status="new", category="payment") == [numbers[3]]
    assert await listed(order="ORD-9999999") == []
    assert await listed(breached="false") == [bob["case_number"], *reversed(numbers)]
    assert (await client.get("/cases", headers=ada)).status_code == 403


async def test_the_gauge_counts_the_cases_not_closed_by_status(
    client: httpx.AsyncClient, support: Support
) -> None:
    alice = support.agent()
    for _ in range(2):
        await opened(client, support.customer("C-ADA"), about())
    closed = await opened(client, support.customer("C-ADA"), about())
    await client.post(
        f"/cases/{closed['case_id']}/status", json={"status": "closed"}, headers=alice
    )

    await support.run_job("case-gauge")

    def count(status: str) -> float | None:
        return REGISTRY.get_sample_value("orderly_support_open_cases", {"status": status})

    assert (count("new"), count("open"), count("resolved")) == (2, 0, 0)
    assert count("closed") is None


async def case_of(client: httpx.AsyncClient, number: str, headers: dict[str, str]) -> str:
    """The id of the case numbered ``number``."""
    found = await client.get("/cases", params={"limit": 500}, headers=headers)
    [case_id] = [c["case_id"] for c in found.json()["items"] if c["case_number"] == number]
    return str(case_id)
