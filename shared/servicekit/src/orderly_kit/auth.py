"""Who calls: bearer tokens checked against the issuer's keys, and the access every route declares.

Tokens are JWTs signed (RS256 or ES256) by the OpenID Connect issuer named in
``ORDERLY_AUTH_ISSUER``; its keys come from the JWKS that its discovery document names
(or ``ORDERLY_AUTH_JWKS_URL``). The keys are fetched without blocking the event loop and
kept; a token signed by a key id not yet seen fetches them again (at most once per
``ORDERLY_AUTH_JWKS_MIN_REFRESH_SECONDS``), so a rotated key is picked up and a flood of
forged key ids costs one fetch. Issuer, audience, expiry and not-before are checked with
``ORDERLY_AUTH_LEEWAY_SECONDS`` of clock skew; the roles come from the ``roles`` claim and
a customer's id from ``customer_id`` (else the subject).

Every route depends on exactly one access declaration: a ``Permission`` (the roles that
hold it, and those that hold it only on what is their own) or ``Public`` (with the reason
it needs no token). ``tests/contract/test_access.py`` walks every route of every service
and fails on one without. No token, or a bad one: 401 with ``WWW-Authenticate``; a role
without the permission: 403. Whether a customer's own order is theirs is the route's
question (``Caller.may_see``), answered with a 404, never a 403 that confirms it exists.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from orderly_kit.http_errors import ErrorDetail

log = logging.getLogger(__name__)


#: The longest subject a token may name: records keep who acted in 200 characters.
MAX_SUBJECT = 200


class Role(StrEnum):
    """The roles a token may carry; people's roles, then service principals'."""

    CUSTOMER = "customer"
    SUPPORT = "support"
    WAREHOUSE = "warehouse"
    FINANCE = "finance"
    ADMIN = "admin"
    #: Upstream checkout: may place orders over HTTP.
    CHECKOUT = "checkout"
    #: Prometheus: may read /metrics.
    METRICS = "metrics"


class AuthSettings(BaseSettings):
    """The identity provider the whole suite trusts: one set of settings for every service."""

    model_config = SettingsConfigDict(env_prefix="ORDERLY_AUTH_", extra="ignore")

    issuer: str | None = Field(
        default=None,
        description="the OpenID Connect issuer whose tokens are accepted (its discovery"
        " document names its keys); unset, every token is refused",
    )
    jwks_url: str | None = Field(
        default=None, description="the issuer's JWKS, when it is not found by discovery"
    )
    audience: str = Field(default="orderly", description="the audience a token must name")
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    leeway_seconds: int = Field(
        default=30, ge=0, le=300, description="clock skew allowed on exp, nbf and iat"
    )
    roles_claim: str = Field(
        default="roles", description="the claim holding the roles (dots for a nested claim)"
    )
    customer_claim: str = Field(
        default="customer_id", description="the claim holding a customer's id (else sub)"
    )
    jwks_max_age_seconds: float = Field(
        default=300, gt=0, description="keys older than this are fetched again"
    )
    jwks_min_refresh_seconds: float = Field(
        default=10,
        ge=0,
        description="an unknown key id fetches the keys again at most this often",
    )
    jwks_timeout_seconds: float = Field(default=5, gt=0)


@dataclass(frozen=True)
class Principal:
    """Who a valid token says is calling."""

    subject: str
    roles: frozenset[Role]
    #: The customer a customer's token speaks for.
    customer_id: str | None = None
    token_id: str | None = None

    @property
    def role_names(self) -> str:
        """The roles, sorted and comma-separated: how logs and the audit name them."""
        return ",".join(sorted(self.roles))


class InvalidTokenError(Exception):
    """The token is missing, malformed, badly signed, expired or not for us."""


class IssuerUnavailableError(Exception):
    """The issuer's keys cannot be read, so no token can be checked."""


@dataclass
class KeySet:
    """The issuer's signing keys by key id, fetched when first needed and kept fresh."""

    settings: AuthSettings
    transport: httpx.AsyncBaseTransport | None = None
    _keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    _fetched_at: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def key(self, kid: str) -> jwt.PyJWK:
        now = time.monotonic()
        stale = (
            self._fetched_at is None or now - self._fetched_at > self.settings.jwks_max_age_seconds
        )
        unknown = kid not in self._keys
        may_refresh = (
            self._fetched_at is None
            or now - self._fetched_at >= self.settings.jwks_min_refresh_seconds
        )
        if stale or (unknown and may_refresh):
            async with self._lock:
                # Another request may have fetched them while this one waited.
                if self._fetched_at is None or self._fetched_at < now:
                    await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise InvalidTokenError("the token is signed by a key the issuer does not publish")
        return key

    async def _refresh(self) -> None:
        try:
            async with httpx.AsyncClient(
                transport=self.transport, timeout=self.settings.jwks_timeout_seconds
            ) as client:
                url = self.settings.jwks_url or await self._discover(client)
                response = await client.get(url)
                response.raise_for_status()
                jwks = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            if self._keys:
                # Keep serving with the keys we have; try again after the minimum interval.
                log.warning("the issuer's keys could not be refreshed: %s", _reason(exc))
                self._fetched_at = time.monotonic()
                return
            raise IssuerUnavailableError(_reason(exc)) from exc
        self._keys = {k.key_id: k for k in jwks.keys if k.key_id}
        self._fetched_at = time.monotonic()

    async def _discover(self, client: httpx.AsyncClient) -> str:
        issuer = self.settings.issuer
        assert issuer is not None
        response = await client.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
        response.raise_for_status()
        document = response.json()
        if document.get("issuer") != issuer:
            raise ValueError(
                f"the discovery document names another issuer: {document.get('issuer')!r}"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError("the discovery document names no jwks_uri")
        return jwks_uri


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass
class TokenVerifier:
    """Turns a bearer token into a ``Principal``, or says why it cannot."""

    settings: AuthSettings
    keys: KeySet

    @classmethod
    def from_settings(
        cls, settings: AuthSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> TokenVerifier:
        return cls(settings, KeySet(settings, transport))

    async def verify(self, token: str) -> Principal:
        s = self.settings
        if s.issuer is None:
            raise InvalidTokenError("this service trusts no issuer (ORDERLY_AUTH_ISSUER is unset)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("the token is not a JWT") from exc
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") not in s.algorithms:
            raise InvalidTokenError(f"the token must name a key id and one of {s.algorithms}")
        key = await self.keys.key(kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=s.algorithms,
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidTokenError("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"the token is not valid here: {exc}") from exc
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        s = self.settings
        found: Any = claims
        for part in s.roles_claim.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        names = found if isinstance(found, list) else []
        known = {r.value for r in Role}
        roles = frozenset(Role(n) for n in names if isinstance(n, str) and n in known)
        subject = str(claims["sub"])
        if not 0 < len(subject) <= MAX_SUBJECT or not subject.isprintable():
            # Records name who acted by the subject (columns of 200 characters).
            raise InvalidTokenError(
                f"the token's subject must be 1 to {MAX_SUBJECT} printable characters"
            )
        customer = claims.get(s.customer_claim)
        customer_id = (str(customer) if customer else subject) if Role.CUSTOMER in roles else None
        jti = claims.get("jti")
        return Principal(
            subject=subject,
            roles=roles,
            customer_id=customer_id,
            token_id=str(jti) if jti else None,
        )


#: Reads ``Authorization: Bearer …``; declared in OpenAPI as the bearer scheme.
bearer = HTTPBearer(auto_error=False, bearerFormat="JWT", description="an access token")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _unauthorized(detail: str, *, error: str | None = "invalid_token") -> HTTPException:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": challenge}
    )


async def principal_of(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller the request's bearer token names; 401 without a valid one."""
    if credentials is None:
        raise _unauthorized("this needs a bearer token (Authorization: Bearer …)", error=None)
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return await verifier.verify(credentials.credentials)
    except InvalidTokenError as exc:
        raise _unauthorized(str(exc)) from exc
    except IssuerUnavailableError as exc:
        log.error("cannot check tokens: the issuer's keys are unavailable: %s", exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "tokens cannot be checked now: the identity provider's keys are unavailable",
            headers={"Retry-After": "5"},
        ) from exc


@dataclass(frozen=True)
class Caller:
    """A caller let through by a permission, and how far it reaches."""

    principal: Principal
    permission: Permission

    @property
    def only_customer(self) -> str | None:
        """The customer whose things alone this caller may act on; None: anyone's."""
        if self.principal.roles & self.permission.roles:
            return None
        return self.principal.customer_id or ""

    def may_see(self, customer_id: str) -> bool:
        """Whether this caller may see (and act on) something of ``customer_id``."""
        only = self.only_customer
        return only is None or only == customer_id

    def must_see(self, customer_id: str | None, what: str) -> None:
        """404 ``no <what>`` unless something of ``customer_id`` was found (None: nothing
        was) and this caller may see it: the same answer whether or not it exists, so a
        customer learns nothing of another customer's things."""
        if customer_id is None or not self.may_see(customer_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}")

    @property
    def actor(self) -> str:
        """Who acts, as records name it: the token's subject."""
        return self.principal.subject


@dataclass(frozen=True, eq=False)
class Permission:
    """What a route lets a caller do, and which roles may: ``roles`` on anything, ``own``
    only on what is their own (a customer's orders). ``admin`` holds every permission."""

    name: str
    roles: frozenset[Role]
    own: frozenset[Role] = frozenset()
    description: str = ""

    @classmethod
    def of(
        cls, name: str, *roles: Role, own: Iterable[Role] = (), description: str = ""
    ) -> Permission:
        return cls(name, frozenset({*roles, Role.ADMIN}), frozenset(own), description)

    @property
    def holders(self) -> frozenset[Role]:
        return self.roles | self.own

    async def __call__(self, request: Request, credentials: Credentials) -> Caller:
        principal = await principal_of(request, credentials)
        if not principal.roles & self.holders:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"{self.name} needs one of the roles: {', '.join(sorted(self.holders))}",
            )
        return Caller(principal, self)

    def __repr__(self) -> str:
        return f"Permission({self.name!r})"


@dataclass(frozen=True, eq=False)
class Public:
    """A route that needs no token, and why (health probes; webhooks signed by HMAC)."""

    reason: str

    async def __call__(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"Public({self.reason!r})"


#: Kubernetes' probes call these without credentials.
PROBES = Public("liveness and readiness probes carry no credentials")
#: Prometheus reads /metrics with a token of the metrics role (or admin).
READ_METRICS = Permission.of("metrics:read", Role.METRICS)


def access_of(dependencies: Iterable[Any]) -> list[Permission | Public]:
    """The access declarations among a route's dependencies (its ``dependant`` tree)."""
    found: list[Permission | Public] = []
    for dependency in dependencies:
        call = getattr(dependency, "call", None)
        if isinstance(call, Permission | Public):
            found.append(call)
        found.extend(access_of(getattr(dependency, "dependencies", ())))
    return found


_ERROR = {"$ref": "#/components/schemas/ErrorDetail"}
_REFUSALS = {
    "401": "no bearer token, or one that is expired, badly signed or not for this suite",
    "403": "the token's roles do not hold this permission",
    "503": "the identity provider's keys cannot be read now: try again",
}


def document_access(schema: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Write each operation's access into the OpenAPI ``schema``: the permission and the roles
    that hold it (``x-permission``, ``x-roles``, and a line of the description) and the
    refusals it may answer (401, 403, 503); a public route says why (``x-public``)."""
    from fastapi.routing import APIRoute, iter_route_contexts

    paths = schema.get("paths", {})
    for ctx in iter_route_contexts(list(routes)):
        if not isinstance(ctx.original_route, APIRoute):
            continue
        found = access_of(ctx.dependant.dependencies)
        for method in ctx.methods or ():
            operation = paths.get(ctx.path_format, {}).get(method.lower())
            if operation is None or len(found) != 1:
                continue
            access = found[0]
            if isinstance(access, Public):
                operation["x-public"] = access.reason
                continue
            roles = sorted(r.value for r in access.holders)
            operation["x-permission"] = access.name
            operation["x-roles"] = roles
            line = f"Needs `{access.name}`: {', '.join(roles)}."
            operation["description"] = f"{operation.get('description', '')}\n\n{line}".strip()
            responses = operation.setdefault("responses", {})
            for code, description in _REFUSALS.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                )
    if paths:
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorDetail"] = (
            ErrorDetail.model_json_schema()
        )
    return schema
