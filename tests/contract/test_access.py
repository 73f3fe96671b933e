"""Who may call what, across every service: each route declares its access, and the
answers follow the declared matrix.

Walks every route of every service as built for production. A route without exactly one
declaration (a Permission, or Public with its reason) fails the walk. Then, for every
route and every role, a real request through the service's HTTP app, with a token from
the session's development issuer: no token is 401, a role without the permission 403,
a role with it gets past the gate (whatever the route then says of the dummy request).
The gate runs before the request is validated or anything is looked up, so a refusal
says nothing of what exists. ``MATRIX`` is the table of who may do what, written out:
changing who may call a route means changing it here too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from orderly_dev.identity import DevIssuer
from orderly_dev.stack import SERVICES
from orderly_kit.auth import Permission, Public, Role, access_of
from orderly_kit.service import Service

C, S, W, F, A = Role.CUSTOMER, Role.SUPPORT, Role.WAREHOUSE, Role.FINANCE, Role.ADMIN
CHECKOUT, METRICS = Role.CHECKOUT, Role.METRICS
PUBLIC = "public"

#: Every route of every service → the roles that get past its gate (PUBLIC: no token needed).
MATRIX: dict[str, dict[str, frozenset[Role] | str]] = {
    "order": {
        "GET /orders/{ref}": frozenset({C, S, A}),
        "POST /orders": frozenset({CHECKOUT, A}),
        "POST /orders/{ref}/confirm-receipt": frozenset({C, A}),
        "POST /orders/{ref}/cancel": frozenset({C, S, A}),
        "POST /orders/{ref}/returns": frozenset({C, S, A}),
        "GET /returns/{return_id}": frozenset({C, S, A}),
        "POST /returns/{return_id}/approve": frozenset({S, A}),
        "POST /returns/{return_id}/reject": frozenset({S, A}),
        "POST /returns/{return_id}/retry": frozenset({S, F, A}),
        "POST /orders/{ref}/claims": frozenset({S, A}),
        "GET /orders/{ref}/timeline": frozenset({S, A}),
        "GET /claims/{claim_id}": frozenset({C, S, A}),
    },
    "payment": {
        "GET /payments/{order_id}": frozenset({F, S, A}),
        "POST /payments/{order_id}/refunds": frozenset({F, A}),
        "GET /reports/reconciliation": frozenset({F, A}),
        "POST /providers/{provider}/webhooks": PUBLIC,
    },
    "notification": {
        "GET /notifications": frozenset({S, A}),
    },
    "analytics": {
        "GET /kpis": frozenset({S, W, F, A}),
        "GET /orders/{order_id}/stages": frozenset({S, A}),
    },
    "support": {
        "POST /cases": frozenset({C, S, A}),
        "GET /cases": frozenset({S, A}),
        "GET /cases/{case_id}": frozenset({C, S, A}),
        "POST /cases/{case_id}/messages": frozenset({C, S, A}),
        "POST /cases/{case_id}/notes": frozenset({S, A}),
        "PUT /cases/{case_id}/assignee": frozenset({S, A}),
        "POST /cases/{case_id}/status": frozenset({S, A}),
        "POST /cases/{case_id}/satisfaction": frozenset({C, A}),
        "PUT /orders/{ref}/feedback": frozenset({C, A}),
        "GET /orders/{ref}/feedback": frozenset({C, S, A}),
        "GET /feedback": frozenset({S, A}),
        "GET /reports/after-sales": frozenset({S, F, A}),
    },
    "inventory": {
        "GET /shipments/{order_id}": frozenset({W, S, A}),
        "POST /carriers/{carrier}/webhooks": PUBLIC,
        "GET /stock/{sku}": frozenset({W, S, A}),
        "GET /stock": frozenset({W, S, A}),
        "GET /products": frozenset({W, S, A}),
        "GET /products/{sku}": frozenset({W, S, A}),
        "GET /warehouses": frozenset({W, S, A}),
        "POST /warehouses": frozenset({W, A}),
        "POST /stock/{sku}/{warehouse}/adjustments": frozenset({W, A}),
        "PUT /stock/{sku}/{warehouse}/safety-stock": frozenset({W, A}),
        "GET /movements": frozenset({W, A}),
        "GET /movements/export": frozenset({W, A}),
        "POST /imports/products": frozenset({W, A}),
        "POST /imports/opening-stock": frozenset({W, A}),
        "POST /goods-receipts": frozenset({W, A}),
        "GET /goods-receipts/{goods_receipt_id}": frozenset({W, A}),
        "POST /returns/{return_id}/restock": frozenset({W, A}),
        "GET /returns/{return_id}/parcel": frozenset({W, S, A}),
        "GET /orders/{order_id}/replacements": frozenset({W, S, A}),
        "POST /stock-takes": frozenset({W, A}),
        "GET /stock-takes": frozenset({W, A}),
        "GET /stock-takes/{stock_take_id}": frozenset({W, A}),
        "POST /stock-takes/{stock_take_id}/counts": frozenset({W, A}),
        "POST /stock-takes/{stock_take_id}/approve": frozenset({W, A}),
        "POST /stock-takes/{stock_take_id}/cancel": frozenset({W, A}),
        "POST /transfers": frozenset({W, A}),
        "GET /transfers": frozenset({W, A}),
        "GET /transfers/{transfer_id}": frozenset({W, A}),
        "PATCH /transfers/{transfer_id}": frozenset({W, A}),
        "POST /transfers/{transfer_id}/dispatch": frozenset({W, A}),
        "POST /transfers/{transfer_id}/receive": frozenset({W, A}),
        "POST /transfers/{transfer_id}/cancel": frozenset({W, A}),
    },
}
#: What every service serves besides its own routes.
EVERY_SERVICE: dict[str, frozenset[Role] | str] = {
    "GET /health/live": PUBLIC,
    "GET /health/ready": PUBLIC,
    "GET /health/consumers": PUBLIC,
    "GET /metrics": frozenset({METRICS, A}),
    "GET /audit": frozenset({A}),
}
#: FastAPI's own pages: the API's description is not a secret (no data, no actions).
DOCUMENTATION = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}

#: Plausible path parameters: a refusal must come before any of them is looked at.
PARAMS = {
    "ref": "ORD-0000001",
    "sku": "DEMO-0001",
    "warehouse": "WH-BER",
    "carrier": "simulated",
    "provider": "simulated",
}


def path_with_params(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return PARAMS.get(name, "0b9d6c3e-51d2-4e0b-9a41-7f0c6f7e2a10")

    return re.sub(r"{([^}:]+)(:[^}]*)?}", value, path)


def build(name: str) -> Service:
    return SERVICES[name].build(log_json=False)


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str
    access: Permission | Public

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def allowed(self) -> frozenset[Role] | str:
        if isinstance(self.access, Public):
            return PUBLIC
        return self.access.holders


def declarations(service: Service) -> Iterator[tuple[str, str, list[Permission | Public]]]:
    """Each API route's method, path and the access declarations among its dependencies."""
    for ctx in iter_route_contexts(service.http.routes):
        if isinstance(ctx.original_route, APIRoute):
            for method in sorted(ctx.methods or ()):
                yield method, ctx.path or "", access_of(ctx.dependant.dependencies)


def routes_of(name: str, service: Service) -> Iterator[Route]:
    for method, path, found in declarations(service):
        if len(found) == 1:
            yield Route(name, method, path, found[0])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_route_declares_who_may_call_it_as_the_matrix_says(name: str) -> None:
    service = build(name)
    others = [
        ctx.path
        for ctx in iter_route_contexts(service.http.routes)
        if not isinstance(ctx.original_route, APIRoute) and ctx.path not in DOCUMENTATION
    ]
    assert others == [], "routes outside FastAPI's routing, with no access declared"
    undeclared = [
        f"{method} {path}: {found}"
        for method, path, found in declarations(service)
        if len(found) != 1
    ]
    assert undeclared == [], (
        "give each route exactly one access declaration: a Permission, or Public with its reason"
    )
    declared = {r.key: r.allowed for r in routes_of(name, service)}
    assert declared == MATRIX[name] | EVERY_SERVICE


ALL_ROUTES = [r for name in sorted(SERVICES) for r in routes_of(name, build(name))]


@pytest.fixture
async def clients(services: dict[str, Service]) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    opened = {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=s.http, raise_app_exceptions=False),
            base_url=f"http://{name}",
        )
        for name, s in services.items()
    }
    yield opened
    for client in opened.values():
        await client.aclose()


@pytest.mark.parametrize("route", ALL_ROUTES, ids=lambda r: f"{r.service} {r.key}")
async def test_each_role_is_let_through_or_refused_as_declared(
    route: Route, clients: dict[str, httpx.AsyncClient], identity: DevIssuer
) -> None:
    client = clients[route.service]
    url = path_with_params(route.path)

    async def call(headers: dict[str, str]) -> httpx.Response:
        return await client.request(route.method, url, headers=headers, json={})

    anonymous = await call({})
    if route.allowed == PUBLIC:
        assert anonymous.status_code not in (401, 403), anonymous.text
        return
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"] == "Bearer"
    for role in Role:
        answer = await call(identity.headers(role, sub=f"someone-{role.value}"))
        if role in route.allowed:
            assert answer.status_code not in (401, 403), (role, answer.text)
            assert answer.status_code < 500, (role, answer.text)
        else:
            assert answer.status_code == 403, (role, answer.text)
            # A refusal names the permission and the roles that hold it, nothing else.
            assert set(answer.json()) == {"detail"}
            for value in PARAMS.values():
                assert value not in answer.text
