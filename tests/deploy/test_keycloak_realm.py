"""The Keycloak realm compose imports gives the services the tokens they expect.

There is no Keycloak here to ask for a token, so the realm file is read as Keycloak imports
it: the roles, the clients and, on every client, the mappers that put ``aud: orderly``, the
realm roles as a top-level ``roles`` array and a customer's ``customer_id`` into each access
token; the demo users; and the compose and Prometheus settings that point at the realm.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orderly_kit.auth import AuthSettings

REPO = Path(__file__).resolve().parents[2]
REALM_FILE = REPO / "deploy" / "keycloak" / "orderly-realm.json"
ISSUER = "http://keycloak:8080/realms/orderly"
PEOPLE_ROLES = ("customer", "support", "warehouse", "finance", "admin")
SERVICE_ROLES = {"checkout": "checkout", "prometheus": "metrics"}  # client → its account's role
CONSOLE = "orderly-console"


def realm() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(REALM_FILE.read_text())
    return loaded


def clients() -> dict[str, dict[str, Any]]:
    return {c["clientId"]: c for c in realm()["clients"]}


def users() -> dict[str, dict[str, Any]]:
    return {u["username"]: u for u in realm()["users"]}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def mappers_by_type(client: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {m["protocolMapper"]: m["config"] for m in client["protocolMappers"]}


def test_the_realm_has_the_suites_roles() -> None:
    loaded = realm()

    assert (loaded["realm"], loaded["enabled"]) == ("orderly", True)
    assert {r["name"] for r in loaded["roles"]["realm"]} == {
        *PEOPLE_ROLES,
        *SERVICE_ROLES.values(),
    }
    # Declaring any client scope would stop Keycloak from creating its built-in ones, among
    # them "basic", whose mapper writes the token's sub: the mappers sit on the clients.
    assert "clientScopes" not in loaded
    assert "defaultDefaultClientScopes" not in loaded


def test_people_sign_in_through_a_public_client() -> None:
    console = clients()[CONSOLE]

    assert console["publicClient"] is True
    assert console["standardFlowEnabled"] is True
    assert console["directAccessGrantsEnabled"] is True  # demos: a token from curl
    assert console["implicitFlowEnabled"] is False
    assert console.get("serviceAccountsEnabled", False) is False
    assert console["attributes"]["pkce.code.challenge.method"] == "S256"
    assert "*" not in console["redirectUris"]


@pytest.mark.parametrize("client_id", sorted(SERVICE_ROLES))
def test_services_sign_in_by_client_credentials_with_one_role(client_id: str) -> None:
    client = clients()[client_id]
    (account,) = [u for u in realm()["users"] if u.get("serviceAccountClientId") == client_id]

    assert client["publicClient"] is False
    assert client["clientAuthenticatorType"] == "client-secret"
    assert client["serviceAccountsEnabled"] is True
    assert client["standardFlowEnabled"] is False
    assert client["directAccessGrantsEnabled"] is False
    assert client["secret"].startswith("compose-local-")  # a demo value, and says so
    assert account["username"] == f"service-account-{client_id}"
    assert account["realmRoles"] == [SERVICE_ROLES[client_id]]


@pytest.mark.parametrize("client_id", [CONSOLE, *sorted(SERVICE_ROLES)])
def test_every_access_token_carries_audience_roles_and_customer_id(client_id: str) -> None:
    mappers = mappers_by_type(clients()[client_id])
    # Where the services look: the kit's auth settings at their defaults.
    expected = AuthSettings(issuer=ISSUER)

    audience = mappers["oidc-audience-mapper"]
    assert audience["included.custom.audience"] == expected.audience == "orderly"
    assert audience["access.token.claim"] == "true"
    roles = mappers["oidc-usermodel-realm-role-mapper"]
    assert (roles["claim.name"], roles["multivalued"]) == (expected.roles_claim, "true")
    assert roles["access.token.claim"] == "true"
    customer = mappers["oidc-usermodel-attribute-mapper"]
    assert customer["user.attribute"] == "customer_id"
    assert customer["claim.name"] == expected.customer_claim
    assert customer["access.token.claim"] == "true"
    # Keycloak signs access tokens RS256 unless told otherwise.
    assert realm().get("defaultSignatureAlgorithm", "RS256") in expected.algorithms


def test_customer_id_is_a_declared_attribute_only_an_admin_may_change() -> None:
    (profile_component,) = realm()["components"]["org.keycloak.userprofile.UserProfileProvider"]
    (config,) = profile_component["config"]["kc.user.profile.config"]
    attributes = {a["name"]: a for a in json.loads(config)["attributes"]}

    assert profile_component["providerId"] == "declarative-user-profile"
    # Since Keycloak 24 an attribute the user profile does not declare reaches no token.
    assert {"username", "email", "firstName", "lastName", "customer_id"} <= set(attributes)
    assert attributes["customer_id"]["permissions"]["edit"] == ["admin"]


def test_there_is_a_demo_user_for_each_role_of_people() -> None:
    people = [u for u in realm()["users"] if "serviceAccountClientId" not in u]

    assert sorted(role for u in people for role in u["realmRoles"]) == sorted(PEOPLE_ROLES)
    for user in people:
        (credential,) = user["credentials"]
        assert credential["type"] == "password"
        assert credential["value"].startswith("demo-"), user["username"]  # demo-only
        # Imported passwords are temporary unless said otherwise; a temporary one, or a
        # profile field the realm requires left empty, stops a direct grant.
        assert credential["temporary"] is False, user["username"]
        assert user["enabled"] is True
        assert user["emailVerified"] is True
        assert all(user[field] for field in ("email", "firstName", "lastName"))
        has_customer_id = "customer_id" in user.get("attributes", {})
        assert has_customer_id == ("customer" in user["realmRoles"]), user["username"]


def test_compose_runs_a_pinned_keycloak_that_imports_the_realm() -> None:
    services = compose()["services"]
    keycloak = services["keycloak"]
    image, _, tag = keycloak["image"].rpartition(":")

    assert image == "quay.io/keycloak/keycloak"
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), keycloak["image"]
    assert "--import-realm" in keycloak["command"]
    mount = "./deploy/keycloak/orderly-realm.json:/opt/keycloak/data/import/orderly-realm.json:ro"
    assert mount in keycloak["volumes"]
    # The issuer is the same whichever address a token is asked at.
    assert f"{keycloak['environment']['KC_HOSTNAME']}/realms/{realm()['realm']}" == ISSUER
    for service in ("order", "inventory", "payment", "notification", "analytics", "support"):
        environment = services[service]["environment"]
        assert environment["ORDERLY_AUTH_ISSUER"] == ISSUER, service
        assert environment["ORDERLY_AUTH_AUDIENCE"] == "orderly", service


def test_compose_prometheus_scrapes_with_a_token_from_the_realm() -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "orderly"]
    oauth2 = job["oauth2"]
    secret_mounts = {
        target.removesuffix(":ro"): REPO / source
        for source, _, target in (
            v.partition(":") for v in compose()["services"]["prometheus"]["volumes"]
        )
    }

    assert oauth2["client_id"] == "prometheus"
    assert oauth2["token_url"] == f"{ISSUER}/protocol/openid-connect/token"
    secret_file = secret_mounts[oauth2["client_secret_file"]]
    assert secret_file.read_text().strip() == clients()["prometheus"]["secret"]
