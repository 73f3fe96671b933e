"""Why the inventory refuses a request: invalid input, an unknown thing, a state conflict (no I/O).

Entry points translate them: HTTP into 422 (naming the field), 404 and 409; a
Kafka consumer into a dead letter that carries the message.
"""

from __future__ import annotations

from collections.abc import Sequence

Loc = tuple[str | int, ...]


class InventoryError(Exception):
    """A request the inventory cannot carry out; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(InventoryError, ValueError):
    """A field of the request breaks a rule; ``loc`` is its path in the request body, ``value``
    what the request gave there (if the rule names it)."""

    def __init__(self, loc: Loc, message: str, *, value: object = None) -> None:
        super().__init__(message)
        self.loc = loc
        self.value = value

    def __str__(self) -> str:
        return f"{'.'.join(str(part) for part in self.loc)}: {self.message}"


class NotFoundError(InventoryError, LookupError):
    """The request names something that does not exist."""


class ConflictError(InventoryError):
    """The request cannot be carried out in the current state of what it names."""


def one_line_per_sku(lines: Sequence[tuple[str, int]], what: str) -> list[tuple[str, int]]:
    """``lines`` (sku, quantity) in SKU order, if there is at least one, each SKU once and
    every quantity positive; else InvalidInputError naming the line (``what``: "a receipt")."""
    if not lines:
        raise InvalidInputError(("lines",), f"{what} needs at least one line")
    seen: set[str] = set()
    for i, (sku, quantity) in enumerate(lines):
        if sku in seen:
            raise InvalidInputError(
                ("lines", i, "sku"), f"sku {sku!r} appears more than once; give one line per SKU"
            )
        seen.add(sku)
        if quantity <= 0:
            raise InvalidInputError(
                ("lines", i, "quantity"), f"must be a positive number of units, not {quantity}"
            )
    return sorted(lines)
