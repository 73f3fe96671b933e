"""POST /payments/{order_id}/refunds: finance refunds by hand, once per Idempotency-Key,
never more than was captured, with a reason; who asked is the token's subject, and the
refund is in the audit log."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import httpx
import pytest

from orderly_dev.identity import DevIssuer
from orderly_kit.auth import Role
from orderly_kit.clock import ManualClock
from orderly_kit.service import Service
from orderly_payment.adapters.providers import REFUND_REJECTED
from orderly_payment.domain.payments import NO_CAPTURED_PAYMENT

if TYPE_CHECKING:  # fixture types; test modules cannot import conftest at run time
    from services.payment.tests.integration.api.conftest import Shop


def refund_body(amount: int, **overrides: Any) -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": "EUR",
        "reason": "goodwill: parcel arrived late",
        **overrides,
    }


async def refund(
    client: httpx.AsyncClient,
    order_id: UUID,
    amount: int,
    key: str | None,
    *,
    caller: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    """A refund asked for by ``caller`` (else the client's own: finance's Anna)."""
    headers = ({} if key is None else {"Idempotency-Key": key}) | (caller or {})
    return await client.post(
        f"/payments/{order_id}/refunds", json=refund_body(amount, **body), headers=headers
    )


async def test_partial_refunds_up_to_the_captured_amount_then_refused(
    shop: Shop, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order_id = await shop.pay(4999)
    bob = identity.headers(Role.FINANCE, sub="fin.bob")

    first = await refund(client, order_id, 1000, "k1")
    second = await refund(client, order_id, 3999, "k2", caller=bob)
    third = await refund(client, order_id, 1, "k3")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() | {"created_at": None, "updated_at": None} == {
        "refund_id": "manual:k1",
        "amount": 1000,
        "currency": "EUR",
        "status": "succeeded",
        "provider_reference": first.json()["provider_reference"],
        "reason": "goodwill: parcel arrived late",
        "requested_by": "fin.anna",
        "failure_reason": None,
        "attempts": 1,
        "next_attempt_at": None,
        "created_at": None,
        "updated_at": None,
    }
    assert first.json()["provider_reference"]
    assert (second.json()["status"], second.json()["requested_by"]) == ("succeeded", "fin.bob")
    assert third.status_code == 409
    assert third.json()["detail"] == (
        "refund exceeds captured amount: 1 requested, 0 refundable (4999 captured, 4999"
        " already refunded, EUR minor units)"
    )
    payment = (await client.get(f"/payments/{order_id}")).json()
    assert (payment["status"], payment["refunded_amount"], payment["refundable_amount"]) == (
        "refunded",
        4999,
        0,
    )
    assert [r["refund_id"] for r in payment["refunds"]] == ["manual:k1", "manual:k2"]
    assert await shop.provider_refunds(order_id) == 2


async def test_a_refund_by_hand_is_audited_once_with_who_asked_and_why(
    shop: Shop, client: httpx.AsyncClient, identity: DevIssuer
) -> None:
    order_id = await shop.pay(4999)

    done = await refund(client, order_id, 1000, "k1", caller={"X-Request-ID": "ticket-88"})
    await refund(client, order_id, 1000, "k1")  # a retry: the first refund, nothing new
    await refund(client, order_id, 9000, "k2")  # refused: nothing done
    log = await client.get("/audit", headers=identity.headers(Role.ADMIN))
    payment = (await client.get(f"/payments/{order_id}")).json()

    assert done.status_code == 201
    [entry] = log.json()["items"]
    assert (entry["action"], entry["target"]) == ("payment.refund", f"order:{order_id}")
    assert (entry["actor"], entry["roles"], entry["request_id"]) == (
        "fin.anna",
        "finance",
        "ticket-88",
    )
    assert entry["before"] is None
    assert entry["after"] == {
        "refund_id": "manual:k1",
        "payment_id": payment["payment_id"],
        "amount": 1000,
        "currency": "EUR",
        "status": "succeeded",
        "reason": "goodwill: parcel arrived late",
    }


async def test_a_refund_beyond_what_is_left_is_refused_and_nothing_is_sent(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    order_id = await shop.pay(4999)
    await shop.saga_refund(order_id, 2000)

    response = await refund(client, order_id, 3000, "k1")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "refund exceeds captured amount: 3000 requested, 2999 refundable (4999 captured,"
        " 2000 already refunded, EUR minor units)"
    )
    assert await shop.provider_refunds(order_id) == 1  # the saga's
    payment = (await client.get(f"/payments/{order_id}")).json()
    assert [r["refund_id"] for r in payment["refunds"]] == [f"{order_id}:r1"]


async def test_a_retry_with_the_same_key_returns_the_first_refund_and_refunds_nothing_more(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    order_id = await shop.pay(4999)
    first = await refund(client, order_id, 1500, "retry-me")

    again = await refund(client, order_id, 1500, "retry-me")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert await shop.provider_refunds(order_id) == 1
    payment = (await client.get(f"/payments/{order_id}")).json()
    assert (payment["refunded_amount"], len(payment["refunds"])) == (1500, 1)
    assert [e["kind"] for e in payment["ledger"]].count("refund") == 1


async def test_two_concurrent_requests_with_one_key_refund_once(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    order_id = await shop.pay(4999)

    responses = await asyncio.gather(*(refund(client, order_id, 700, "same-key") for _ in range(2)))

    assert sorted(r.status_code for r in responses) == [200, 201]
    assert responses[0].json() == responses[1].json()
    assert await shop.provider_refunds(order_id) == 1


async def test_the_same_key_for_another_amount_is_a_conflict(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    order_id = await shop.pay(4999)
    await refund(client, order_id, 1500, "k1")

    response = await refund(client, order_id, 1600, "k1")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "idempotency key already used for a different request: send a new key for a"
        " new refund"
    }
    assert await shop.provider_refunds(order_id) == 1


async def test_the_same_key_for_another_order_is_a_conflict_that_tells_nothing_of_it(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    first, second = await shop.pay(4999), await shop.pay(3000)
    await refund(client, first, 1234, "k1")

    response = await refund(client, second, 1500, "k1")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "idempotency key already used for a different request: send a new key for a"
        " new refund"
    }
    assert await shop.provider_refunds(second) == 0


async def test_a_refund_the_provider_rejects_is_retried_with_backoff_then_failed(
    shop: Shop, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    order_id = await shop.pay(4999, token="tok_refundfail_1")

    response = await refund(client, order_id, 1000, "k1")

    assert response.status_code == 201
    pending = response.json()
    assert (pending["status"], pending["attempts"], pending["failure_reason"]) == (
        "pending",
        1,
        REFUND_REJECTED,
    )
    due = datetime.fromisoformat(pending["next_attempt_at"])
    clock.advance(due - clock() - timedelta(microseconds=1))
    assert await shop.retry_due_refunds() == 0  # the backoff has not quite passed
    clock.advance(timedelta(microseconds=1))
    assert await shop.retry_due_refunds() == 1
    payment = (await client.get(f"/payments/{order_id}")).json()
    [failed] = payment["refunds"]
    assert (failed["status"], failed["attempts"], failed["requested_by"]) == (
        "failed",
        2,
        "fin.anna",
    )
    assert [(e["idempotency_key"], e["status"]) for e in payment["ledger"][2:]] == [
        ("refund:manual:k1:1", "failed"),
        ("refund:manual:k1:2", "failed"),
    ]
    assert (payment["status"], payment["refundable_amount"]) == ("captured", 4999)


async def test_nothing_captured_is_refused(shop: Shop, client: httpx.AsyncClient) -> None:
    order_id = await shop.pay(4999, token="tok_decline_1")

    response = await refund(client, order_id, 100, "k1")

    assert response.status_code == 409
    assert response.json()["detail"] == NO_CAPTURED_PAYMENT


async def test_another_currency_is_refused(shop: Shop, client: httpx.AsyncClient) -> None:
    order_id = await shop.pay(4999)

    response = await refund(client, order_id, 100, "k1", currency="USD")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "refund currency USD differs from the captured currency EUR"
    )


async def test_an_order_without_a_payment_is_not_found(client: httpx.AsyncClient) -> None:
    order_id = uuid4()

    response = await refund(client, order_id, 100, "k1")

    assert response.status_code == 404
    assert response.json()["detail"] == f"no payment for order {order_id} has been attempted"


async def test_without_an_idempotency_key_nothing_is_refunded(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    order_id = await shop.pay(4999)

    response = await refund(client, order_id, 100, None)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert error["msg"] == (
        "required: send a key of your own (e.g. a UUID) so that a retried request refunds once"
    )
    assert await shop.provider_refunds(order_id) == 0


async def test_a_card_number_as_the_idempotency_key_is_refused_and_kept_nowhere(
    shop: Shop, client: httpx.AsyncClient
) -> None:
    order_id = await shop.pay(4999)

    response = await refund(client, order_id, 100, "4111111111111111")

    assert (response.status_code, response.json()) == (
        422,
        {
            "detail": [
                {
                    "type": "card_number",
                    "loc": ["header", "idempotency-key"],
                    "msg": "looks like a card number; send the provider's token instead",
                }
            ]
        },
    )
    assert (await client.get(f"/payments/{order_id}")).json()["refunds"] == []
    assert await shop.provider_refunds(order_id) == 0


@pytest.mark.parametrize(
    ("key", "problem"),
    [("k" * 94, "at most 93 characters"), ("two words", "match pattern")],
)
async def test_an_idempotency_key_too_long_or_with_spaces_is_refused(
    shop: Shop, client: httpx.AsyncClient, key: str, problem: str
) -> None:
    order_id = await shop.pay(4999)

    response = await refund(client, order_id, 100, key)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert problem in error["msg"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 10.5}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"currency": "eur"}, "currency"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        # Who asks is the token's subject: a body cannot name someone else.
        ({"requested_by": "fin.bob"}, "requested_by"),
        ({"refund_id": "mine"}, "refund_id"),
    ],
    ids=lambda v: str(v)[:30],
)
async def test_a_malformed_refund_names_the_field(
    shop: Shop, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    order_id = await shop.pay(4999)
    amount = body.pop("amount", 100)

    response = await refund(client, order_id, amount, "k1", **body)

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
    assert await shop.provider_refunds(order_id) == 0


async def test_a_missing_reason_names_the_field(shop: Shop, client: httpx.AsyncClient) -> None:
    order_id = await shop.pay(4999)

    response = await client.post(
        f"/payments/{order_id}/refunds",
        json={"amount": 100, "currency": "EUR"},
        headers={"Idempotency-Key": "k1"},
    )

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "reason"]]


async def test_only_finance_refunds_by_hand(
    shop: Shop, client: httpx.AsyncClient, identity: DevIssuer, service: Service
) -> None:
    order_id = await shop.pay(4999)
    support = identity.headers(Role.SUPPORT, sub="sam")
    customer = identity.headers(Role.CUSTOMER, sub="C1")

    by_support = await refund(client, order_id, 100, "k1", caller=support)
    by_customer = await refund(client, order_id, 100, "k2", caller=customer)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.http), base_url="http://payment"
    ) as nobody:
        anonymous = await refund(nobody, order_id, 100, "k3")
    lookup_by_support = await client.get(f"/payments/{order_id}", headers=support)

    assert (by_support.status_code, by_customer.status_code, anonymous.status_code) == (
        403,
        403,
        401,
    )
    assert await shop.provider_refunds(order_id) == 0
    assert lookup_by_support.status_code == 200
