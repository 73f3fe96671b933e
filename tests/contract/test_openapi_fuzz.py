"""Every service's HTTP API fuzzed from its own OpenAPI document.

Schemathesis generates requests for every operation, valid ones and ones that break the
document's rules. Each valid one of its fuzzing and examples phases is sent with a token
of every role that may call the operation (its ``x-roles``, which ``test_access`` checks
against the matrix); each of its coverage phase (every boundary and broken rule, once)
and each invalid one with a token of one of those roles, chosen by the request itself;
each without a token where the operation is public. Every answer must be no 5xx, a
status the operation documents, in a content type it documents for that status, and in
the shape it documents.

The apps run in this process on migrated databases of the module's own (the
``services`` fixture: not started, so no Kafka; what a route would publish waits in its
outbox). State-changing routes are fuzzed too: those databases are thrown away. The
generation is derandomized, from a fixed seed and a bounded number of examples, so every
run sends the same requests.

Each service's document is read at collection (from an app built without a database, as
``test_access`` reads the routes), so that every operation is a test of its own:
schemathesis' fixture-loaded schemas (``schemathesis.pytest.from_fixture``) set a node's
``_nodeid``, which pytest 9.2 no longer has.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.python.asgi import ASGIClient, get_client

from orderly_dev.identity import DevIssuer
from orderly_dev.stack import SERVICES
from orderly_kit.auth import Role
from orderly_kit.service import Service

pytestmark = pytest.mark.slow  # about a minute on two cores

BASE_URL = "http://testserver"
CONFIG: dict[str, Any] = {
    # The same requests on every run: a fixed seed, derandomized, no example database.
    "seed": 20261206,
    # Timing is not the contract's: a slow machine must not fail the run.
    "suppress-health-check": ["too_slow"],
    "generation": {
        # Valid requests, and ones that break the document's rules.
        "mode": "all",
        # Per operation in the fuzzing phase; the examples and coverage phases (every
        # boundary and every kind of invalid value, each once) come on top.
        "max-examples": 10,
        "deterministic": True,
        "database": "none",
    },
    # No probing with methods an operation does not have: the router answers those (405)
    # before any route's code, and these checks have nothing to say of them.
    "phases": {"coverage": {"unexpected-methods": []}},
}


def checks() -> list[CheckFunction]:
    # The OpenAPI checks register themselves on import: schemathesis.checks names them then.
    schemathesis.checks.load_all_checks()
    return [
        not_a_server_error,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
        schemathesis.checks.response_schema_conformance,
        schemathesis.checks.response_headers_conformance,
    ]


@pytest.fixture(scope="module")
def clients(services: dict[str, Service]) -> Iterator[dict[str, ASGIClient]]:
    """Requests straight into each app, by service; never entered, so no app's lifespan
    (which would start the service: its jobs, Kafka) runs."""
    # FastAPI's ASGI signature is the standard's, typed with mutable mappings.
    apps: dict[str, Any] = {name: service.http for name, service in services.items()}
    opened = {name: get_client(app) for name, app in apps.items()}
    for session in opened.values():
        session.trust_env = False  # no proxy to look up in the environment on every request
    yield opened
    for session in opened.values():
        session.close()


@pytest.fixture(scope="module")
def tokens(identity: DevIssuer) -> dict[Role, dict[str, str]]:
    """A caller's headers by role (a token lasts an hour, longer than the module runs)."""
    return {role: identity.headers(role, sub=f"fuzz-{role.value}") for role in Role}


def callers(
    case: schemathesis.Case[Any], tokens: dict[Role, dict[str, str]]
) -> Iterator[tuple[str, dict[str, str]]]:
    """Each caller to send ``case`` as, by name, with its headers: none where the operation
    is public; else every role it names for a valid request of the fuzzing and examples
    phases, and one of them, chosen by the request itself, for a request of the coverage
    phase (its boundaries and broken rules are one request each, and many) or one that
    breaks the document's rules (refused alike for every role the gate lets in)."""
    roles = case.operation.definition.raw.get("x-roles")
    if roles is None:
        yield "anonymous", {}
        return
    allowed = [Role(role) for role in roles]
    meta = case.meta
    if meta is not None and (meta.phase.name == "coverage" or meta.generation.mode.is_negative):
        request = case.as_curl_command(base_url=BASE_URL).encode()
        allowed = [allowed[zlib.crc32(request) % len(allowed)]]
    for role in allowed:
        yield role.value, tokens[role]


def fuzzing(name: str) -> Callable[..., None]:
    """A test of every operation of service ``name``'s API (one pytest item each)."""
    document = SERVICES[name].build(log_json=False).http.openapi()
    schema = schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(CONFIG))

    def test(
        case: schemathesis.Case[Any],
        clients: dict[str, ASGIClient],
        tokens: dict[Role, dict[str, str]],
    ) -> None:
        for caller, headers in callers(case, tokens):
            response = case.call(session=clients[name], base_url=BASE_URL, headers=headers)
            try:
                case.validate_response(response, checks=checks(), headers=headers)
            except FailureGroup as failure:  # name the caller: the token is not shown
                raise FailureGroup(
                    list(failure.exceptions), f"as {caller}: {failure.message}"
                ) from None

    tests: Callable[..., None] = schema.parametrize()(test)
    return tests


test_the_order_api_answers_as_documented = fuzzing("order")
test_the_inventory_api_answers_as_documented = fuzzing("inventory")
test_the_payment_api_answers_as_documented = fuzzing("payment")
test_the_notification_api_answers_as_documented = fuzzing("notification")
test_the_analytics_api_answers_as_documented = fuzzing("analytics")
test_the_support_api_answers_as_documented = fuzzing("support")
