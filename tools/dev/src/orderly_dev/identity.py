"""A development OpenID Connect issuer: its own key, a JWKS endpoint, and tokens on request.

The services check tokens exactly as in production (discovery, JWKS, ES256, issuer,
audience, expiry); only the issuer is small. ``make run`` and the tests start one;
``orderly-dev token --role support --sub alice`` asks the running one for a token
(``POST /token``, which only a development issuer has). It binds to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from orderly_kit.auth import Role

AUDIENCE = "orderly"
#: ``make run``'s issuer listens here unless told otherwise.
DEFAULT_PORT = 8700


@dataclass
class DevIssuer:
    """An issuer on ``port`` (0: a free one); ``start()`` serves it in a thread."""

    port: int = 0
    audience: str = AUDIENCE
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The issuer URL (``iss`` of its tokens; ORDERLY_AUTH_ISSUER of the services)."""
        assert self._server is not None, "the issuer has not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> DevIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._json(200, issuer.discovery())
                elif self.path == "/jwks.json":
                    self._json(200, issuer.jwks())
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if self.path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                try:
                    roles = [Role(r) for r in form.get("role", "").split(",") if r]
                    token = issuer.token(
                        *roles,
                        sub=form.get("sub") or "dev",
                        customer_id=form.get("customer_id"),
                        ttl=int(form.get("ttl", "3600")),
                    )
                except ValueError as exc:
                    self._json(400, {"error": "invalid_request", "error_description": str(exc)})
                    return
                self._json(200, {"access_token": token, "token_type": "Bearer"})

            def _json(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="dev-issuer", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks.json",
            "token_endpoint": f"{self.url}/token",
            "id_token_signing_alg_values_supported": ["ES256"],
        }

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "ES256"}]}

    def token(
        self,
        *roles: Role,
        sub: str = "dev",
        customer_id: str | None = None,
        ttl: int = 3600,
        **claims: Any,
    ) -> str:
        """A signed access token for ``sub`` with ``roles`` (``claims`` add or override)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.url,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "roles": [r.value for r in roles],
        }
        if customer_id is not None:
            body["customer_id"] = customer_id
        body.update(claims)
        return jwt.encode(body, self.key, algorithm="ES256", headers={"kid": self.kid})

    def headers(self, *roles: Role, sub: str | None = None, **claims: Any) -> dict[str, str]:
        """``Authorization`` for a caller with ``roles`` (its subject named after them)."""
        subject = sub or "-".join(r.value for r in roles) or "nobody"
        return {"Authorization": f"Bearer {self.token(*roles, sub=subject, **claims)}"}
