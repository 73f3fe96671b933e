"""What the support domain refuses, and how a caller is told: one family for every capability.

A ``Refusal`` says why in its message. ``InvalidRequestError`` names the field of the request
that breaks a rule (``loc``, its path in the body) and what was sent there; the HTTP layer
answers it as the kit's 422. ``ConflictError`` is a request that the state of what it
addresses forbids (an order not yet delivered, a closed case): a 409.
"""

from __future__ import annotations


class Refusal(Exception):
    """A request the rules refuse; ``message`` says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(Refusal, ValueError):
    """A field of the request breaks a rule: ``loc`` is its path in the request body and
    ``value`` what the request gave there."""

    def __init__(self, loc: tuple[str | int, ...], message: str, *, value: object = None) -> None:
        super().__init__(message)
        self.loc = loc
        self.value = value


class ConflictError(Refusal):
    """The state of what the request addresses does not allow it now."""


class CustomerErasedError(ConflictError):
    """Words for, or about, a customer whose personal data was erased: nothing new is kept."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(
            f"customer {customer_id}'s personal data was erased: support keeps no new words of"
            " theirs or about them (a subject, message, note, reason or comment); act without"
            " them, or under the customer's new id"
        )
        self.customer_id = customer_id
