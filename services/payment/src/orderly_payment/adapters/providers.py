"""Payment provider adapters: the port the handlers call, and a simulated provider.

A provider must be idempotent per idempotency key: a capture or refund retried
with the same key (after a crash between the provider's answer and our commit,
say) returns the first answer and moves no money again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Protocol

from orderly_schemas.base import Money


@dataclass(frozen=True)
class ProviderResult:
    """A provider's answer: approved or not, its reference, and why not."""

    approved: bool
    reference: str
    failure_reason: str | None = None


class PaymentProvider(Protocol):
    async def capture(self, *, idempotency_key: str, amount: Money, token: str) -> ProviderResult:
        """Charge ``amount`` to the payment method behind ``token``."""
        ...

    async def refund(
        self, *, idempotency_key: str, payment_reference: str, amount: Money
    ) -> ProviderResult:
        """Return ``amount`` of the capture ``payment_reference``."""
        ...


DECLINE_PREFIX: Final = "tok_decline"
REFUND_FAIL_PREFIX: Final = "tok_refundfail"
DECLINED: Final = "card declined by issuer"
REFUND_REJECTED: Final = "refund rejected by provider"

# The capture reference remembers that refunds of it are to fail, so that this
# survives a restart and holds on whichever replica handles the refund.
_CAPTURE: Final = "sim_ch_"
_CAPTURE_REFUSING_REFUNDS: Final = "sim_chrf_"
_REFUND: Final = "sim_re_"


def _reference(prefix: str, idempotency_key: str) -> str:
    # Derived from the key, so a retried call gets the same reference even after a restart.
    return prefix + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


class SimulatedProvider:
    """Approves every token but ``tok_decline…``; refunds fail for ``tok_refundfail…`` captures."""

    def __init__(self) -> None:
        self._answers: dict[str, ProviderResult] = {}

    async def capture(self, *, idempotency_key: str, amount: Money, token: str) -> ProviderResult:
        del amount  # the simulation charges any amount
        if idempotency_key not in self._answers:
            if token.startswith(DECLINE_PREFIX):
                result = ProviderResult(False, _reference(_CAPTURE, idempotency_key), DECLINED)
            elif token.startswith(REFUND_FAIL_PREFIX):
                result = ProviderResult(
                    True, _reference(_CAPTURE_REFUSING_REFUNDS, idempotency_key)
                )
            else:
                result = ProviderResult(True, _reference(_CAPTURE, idempotency_key))
            self._answers[idempotency_key] = result
        return self._answers[idempotency_key]

    async def refund(
        self, *, idempotency_key: str, payment_reference: str, amount: Money
    ) -> ProviderResult:
        del amount
        if idempotency_key not in self._answers:
            reference = _reference(_REFUND, idempotency_key)
            if payment_reference.startswith(_CAPTURE_REFUSING_REFUNDS):
                result = ProviderResult(False, reference, REFUND_REJECTED)
            else:
                result = ProviderResult(True, reference)
            self._answers[idempotency_key] = result
        return self._answers[idempotency_key]
