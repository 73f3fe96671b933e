"""Signed webhooks: the ``Orderly-Signature`` header that carriers and payment providers send.

``Orderly-Signature: t=<unix seconds>,v1=<hex>`` where the hex is HMAC-SHA256, keyed
with a shared secret, of ``f"{t}.{body}"`` (the raw body bytes). The timestamp is
signed too, so a captured request cannot be sent again later than the tolerance
allows; within it, the delivery id the body carries stops a replay (each receiver
remembers the ids it applied, in the same transaction as their effects).

Secrets rotate without downtime: the receiver accepts any of its secrets (the
new one first, the old one until every sender has switched), and a sender may
send several ``v1=`` values, one per secret it signs with. A setting lists them
comma-separated (``split_secrets``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx

HEADER = "Orderly-Signature"
SCHEME = "v1"


class WebhookSignatureError(Exception):
    """A webhook whose signature cannot be trusted; ``reason`` says why (never the secret)."""

    def __init__(self, reason: str, *, malformed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The header is missing or unreadable (a client error), rather than wrong.
        self.malformed = malformed


def split_secrets(listed: str) -> list[str]:
    """The secrets of a comma-separated setting, in order (the one to sign with first)."""
    return [s.strip() for s in listed.split(",") if s.strip()]


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, *, secrets: Sequence[str], at: datetime) -> str:
    """The header value for ``body`` sent at ``at``: one ``v1`` per secret."""
    timestamp = int(at.timestamp())
    return ",".join(
        [f"t={timestamp}", *(f"{SCHEME}={_digest(s, timestamp, body)}" for s in secrets)]
    )


def verify(
    header: str | None,
    body: bytes,
    *,
    secrets: Sequence[str],
    now: datetime,
    tolerance: timedelta,
) -> None:
    """Accept ``body`` if ``header`` signs it with one of ``secrets`` within ``tolerance`` of now.

    Raises WebhookSignatureError otherwise. Digests are compared in constant time.
    """
    if not header:
        raise WebhookSignatureError(f"the {HEADER} header is missing", malformed=True)
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookSignatureError(
                    f"{HEADER} t={value!r} is not a unix time in seconds", malformed=True
                ) from None
        elif name == SCHEME and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookSignatureError(
            f"{HEADER} must be 't=<unix seconds>,{SCHEME}=<hex HMAC-SHA256>'", malformed=True
        )
    age = now.timestamp() - timestamp
    if abs(age) > tolerance.total_seconds():
        raise WebhookSignatureError(
            f"{HEADER} timestamp {timestamp} is {abs(age):.0f}s"
            f" {'old' if age > 0 else 'in the future'}; at most"
            f" {tolerance.total_seconds():.0f}s is accepted: sign each delivery when it is sent"
        )
    expected = [_digest(secret, timestamp, body) for secret in secrets]
    # Every pair is compared, so the time taken does not say which secret or value matched.
    matched = False
    for candidate in expected:
        for given in signatures:
            matched |= hmac.compare_digest(candidate.encode(), given.encode())
    if not matched:
        raise WebhookSignatureError(f"{HEADER} does not match the body with any configured secret")


async def post_signed(
    client: httpx.AsyncClient, url: str, body: bytes, *, secret: str, timeout_seconds: float
) -> str | None:
    """POST ``body`` signed with ``secret`` as it is sent; None if accepted, else why not.

    Signed at the moment of sending, so a retry carries a fresh timestamp.
    """
    try:
        response = await client.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                HEADER: sign(body, secrets=[secret], at=datetime.now(UTC)),
            },
            timeout=timeout_seconds,
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.is_success else f"{response.status_code}: {response.text}"
