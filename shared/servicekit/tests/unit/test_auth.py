"""Bearer tokens checked against a real issuer's JWKS over HTTP, and the access a route declares."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI

from orderly_dev.identity import DevIssuer
from orderly_kit.auth import (
    AuthSettings,
    Caller,
    Permission,
    Public,
    Role,
    TokenVerifier,
    access_of,
    document_access,
)

READ_ORDERS = Permission.of("orders:read", Role.SUPPORT, own=[Role.CUSTOMER])
REFUND = Permission.of("payments:refund", Role.FINANCE)
OPEN = Public("a test route anyone may call")


@pytest.fixture
def issuer() -> Iterator[DevIssuer]:
    started = DevIssuer().start()
    yield started
    started.stop()


def app_trusting(issuer_url: str, **settings: object) -> FastAPI:
    app = FastAPI()
    app.state.token_verifier = TokenVerifier.from_settings(
        AuthSettings(issuer=issuer_url, **settings)  # type: ignore[arg-type]
    )

    @app.get("/orders/{customer}")
    async def order(
        customer: str, caller: Annotated[Caller, Depends(READ_ORDERS)]
    ) -> dict[str, str]:
        if not caller.may_see(customer):
            return {"seen": "no"}
        return {"seen": "yes", "by": caller.actor}

    @app.post("/refunds", dependencies=[Depends(REFUND)])
    async def refund() -> dict[str, str]:
        return {"refunded": "yes"}

    @app.get("/open", dependencies=[Depends(OPEN)])
    async def open_route() -> dict[str, str]:
        return {"open": "yes"}

    return app


@pytest.fixture
async def client(issuer: DevIssuer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_trusting(issuer.url))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        yield c


async def test_a_token_with_the_role_is_let_through_and_names_its_subject(
    issuer: DevIssuer, client: httpx.AsyncClient
) -> None:
    r = await client.get("/orders/C1", headers=issuer.headers(Role.SUPPORT, sub="alice"))
    assert r.status_code == 200
    assert r.json() == {"seen": "yes", "by": "alice"}


async def test_no_token_is_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    r = await client.get("/orders/C1")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


async def test_a_role_without_the_permission_is_403(
    issuer: DevIssuer, client: httpx.AsyncClient
) -> None:
    r = await client.post("/refunds", headers=issuer.headers(Role.SUPPORT))
    assert r.status_code == 403
    assert r.json()["detail"] == "payments:refund needs one of the roles: admin, finance"


async def test_admin_holds_every_permission(issuer: DevIssuer, client: httpx.AsyncClient) -> None:
    assert (await client.post("/refunds", headers=issuer.headers(Role.ADMIN))).status_code == 200


async def test_a_customer_reaches_only_their_own(
    issuer: DevIssuer, client: httpx.AsyncClient
) -> None:
    headers = issuer.headers(Role.CUSTOMER, sub="u-1", customer_id="C1")
    assert (await client.get("/orders/C1", headers=headers)).json()["seen"] == "yes"
    assert (await client.get("/orders/C2", headers=headers)).json()["seen"] == "no"


async def test_a_customer_token_without_customer_id_speaks_for_its_subject(
    issuer: DevIssuer, client: httpx.AsyncClient
) -> None:
    headers = issuer.headers(Role.CUSTOMER, sub="C7")
    assert (await client.get("/orders/C7", headers=headers)).json()["seen"] == "yes"


async def test_a_public_route_needs_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/open")).status_code == 200


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": 1_000_000}, "the token has expired"),
        ({"aud": "someone-else"}, "the token is not valid here: Audience doesn't match"),
        ({"iss": "http://127.0.0.1:1"}, "the token is not valid here: Invalid issuer"),
        ({"sub": "x" * 201}, "the token's subject must be 1 to 200 printable characters"),
        ({"sub": "eve\nadmin"}, "the token's subject must be 1 to 200 printable characters"),
    ],
)
async def test_a_token_not_for_us_is_401(
    issuer: DevIssuer, client: httpx.AsyncClient, claims: dict[str, Any], reason: str
) -> None:
    token = issuer.token(Role.ADMIN, **claims)
    r = await client.post("/refunds", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json()["detail"] == reason
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_a_token_signed_by_another_key_is_401(
    issuer: DevIssuer, client: httpx.AsyncClient
) -> None:
    forger = DevIssuer(kid=issuer.kid)  # the same key id, another private key
    forger._server = issuer._server  # signs as if it were the issuer
    token = forger.token(Role.ADMIN)
    r = await client.post("/refunds", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert "Signature verification failed" in r.json()["detail"]


async def test_an_unsigned_token_is_401(client: httpx.AsyncClient, issuer: DevIssuer) -> None:
    token = jwt.encode(
        {"sub": "x", "roles": ["admin"], "iss": issuer.url, "aud": "orderly", "exp": 2**31},
        key="",
        algorithm="none",
        headers={"kid": issuer.kid},
    )
    r = await client.post("/refunds", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_a_rotated_key_is_fetched_when_a_token_names_it(issuer: DevIssuer) -> None:
    app = app_trusting(issuer.url, jwks_min_refresh_seconds=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert (await c.post("/refunds", headers=issuer.headers(Role.ADMIN))).status_code == 200
        issuer.key = ec.generate_private_key(ec.SECP256R1())
        issuer.kid = "rotated"
        assert (await c.post("/refunds", headers=issuer.headers(Role.ADMIN))).status_code == 200


async def test_unknown_key_ids_fetch_the_keys_at_most_once_per_interval(
    issuer: DevIssuer,
) -> None:
    fetches: list[str] = []

    class Counting(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            fetches.append(request.url.path)
            return await super().handle_async_request(request)

    verifier = TokenVerifier.from_settings(
        AuthSettings(issuer=issuer.url, jwks_min_refresh_seconds=60), transport=Counting()
    )
    await verifier.verify(issuer.token(Role.ADMIN))
    for n in range(5):
        forged = jwt.encode(
            {"sub": "x"}, issuer.key, algorithm="ES256", headers={"kid": f"made-up-{n}"}
        )
        with pytest.raises(Exception, match="signed by a key the issuer does not publish"):
            await verifier.verify(forged)
    assert fetches == ["/.well-known/openid-configuration", "/jwks.json"]


async def test_an_unreachable_issuer_is_503_not_401() -> None:
    down = DevIssuer().start()
    url = down.url
    token = down.token(Role.ADMIN)
    down.stop()
    transport = httpx.ASGITransport(app=app_trusting(url, jwks_timeout_seconds=1))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        r = await c.post("/refunds", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503
    assert "identity provider" in r.json()["detail"]


def test_a_route_s_access_is_found_in_its_dependencies(issuer: DevIssuer) -> None:
    app = app_trusting(issuer.url)
    from fastapi.routing import APIRoute, iter_route_contexts

    found = {
        ctx.path: access_of(ctx.dependant.dependencies)
        for ctx in iter_route_contexts(app.routes)
        if isinstance(ctx.original_route, APIRoute)
    }
    assert found == {"/orders/{customer}": [READ_ORDERS], "/refunds": [REFUND], "/open": [OPEN]}


def test_the_openapi_document_states_each_routes_access(issuer: DevIssuer) -> None:
    app = app_trusting(issuer.url)
    schema = document_access(app.openapi(), app.routes)

    refund = schema["paths"]["/refunds"]["post"]
    assert (refund["x-permission"], refund["x-roles"]) == ("payments:refund", ["admin", "finance"])
    assert {"401", "403", "503"} <= set(refund["responses"])
    assert refund["description"].endswith("Needs `payments:refund`: admin, finance.")
    assert schema["paths"]["/open"]["get"]["x-public"] == "a test route anyone may call"
    assert "401" not in schema["paths"]["/open"]["get"]["responses"]
