"""Support's view of an order: one timeline of everything that happened to it.

From this service: the order's status history, each return's (and exchange's) steps and
each claim; from the others (``adapters.neighbours``): the parcels (the order's own, and
those of its replacements) and their tracking,
the payment's captures, charges and refunds, the messages sent, the cases and the
feedback. Each entry says when, where from, what, and what it concerns; no entry carries
a customer's name, address or words (a message's subject and a case's category, not
their bodies). A service that could not be read is named in ``unavailable``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from orderly_order.adapters.neighbours import Read
from orderly_order.queries.orders import OrderRead
from orderly_order.queries.returns import ReturnRead

Source = Literal[
    "order", "return", "claim", "parcel", "payment", "notification", "case", "feedback"
]


class TimelineEntry(BaseModel):
    at: datetime
    source: Source
    what: str = Field(description="the step: a status, a tracking update, a payment operation")
    ref: str | None = Field(
        description="what it concerns: a return or claim number, a tracking number, a refund"
        " or charge id, a case number, a message's template"
    )
    detail: str | None


class Timeline(BaseModel):
    order_id: UUID
    order_number: str
    status: str
    entries: list[TimelineEntry] = Field(description="oldest first")
    unavailable: dict[str, str] = Field(
        description="what could not be read, and why (the timeline shows the rest)"
    )


def assemble(order: OrderRead, returns: Sequence[ReturnRead], read: Mapping[str, Read]) -> Timeline:
    """The order's timeline from what this service keeps and what the others said."""
    entries = [
        *_order(order),
        *_returns(returns),
        *_claims(order),
        *_parcels(_body(read.get("shipment")) or {}),
        *_replacements(read.get("replacements")),
        *_payment(read.get("payment")),
        *_notifications(read.get("notifications")),
        *_cases(read.get("cases")),
        *_feedback(read.get("feedback")),
    ]
    entries.sort(key=lambda e: e.at)
    return Timeline(
        order_id=order.order_id,
        order_number=order.order_number,
        status=order.status,
        entries=entries,
        unavailable={name: r.problem for name, r in read.items() if r.problem is not None},
    )


def _entry(
    at: Any, source: Source, what: str, ref: str | None = None, detail: str | None = None
) -> TimelineEntry:
    return TimelineEntry.model_validate(
        {"at": at, "source": source, "what": what, "ref": ref, "detail": detail}
    )


def _order(order: OrderRead) -> Iterator[TimelineEntry]:
    for change in order.status_history:
        yield _entry(change.at, "order", change.status, order.order_number, change.reason)


def _returns(returns: Iterable[ReturnRead]) -> Iterator[TimelineEntry]:
    for r in returns:
        for step in r.history:
            detail = step.reason
            if step.status == "requested":
                detail = f"{r.resolution}: {r.reason}"
            yield _entry(step.at, "return", step.status, r.return_number, detail)


def _claims(order: OrderRead) -> Iterator[TimelineEntry]:
    for c in order.claims:
        yield _entry(c.opened_at, "claim", "opened", c.claim_number, f"{c.kind}: {c.resolution}")


def _body(read: Read | None) -> Any:
    return None if read is None else read.body


def _replacements(read: Read | None) -> Iterator[TimelineEntry]:
    """A claim's reshipment or an exchange's goods: asked for, refused, or shipped in
    parcels of their own (tracked like the order's)."""
    for replacement in (_body(read) or {}).get("items", []):
        if replacement["status"] == "refused":
            yield _entry(
                replacement["updated_at"],
                "parcel",
                "replacement refused",
                None,
                replacement["refusal"],
            )
        yield from _parcels(replacement)


def _parcels(shipment: Mapping[str, Any]) -> Iterator[TimelineEntry]:
    for parcel in shipment.get("parcels", []):
        number = parcel["tracking_number"]
        where = f"{parcel['carrier']} from {parcel['warehouse']}"
        yield _entry(parcel["shipped_at"], "parcel", "shipped", number, where)
        for update in parcel.get("tracking", []):
            yield _entry(
                update["occurred_at"], "parcel", update["status"], number, update["detail"]
            )


def _payment(read: Read | None) -> Iterator[TimelineEntry]:
    payment = _body(read)
    for op in (payment or {}).get("ledger", []):
        amount = f"{op['currency']} {op['amount'] / 100:.2f}"
        detail = amount if op.get("reason") is None else f"{amount}: {op['reason']}"
        ref = op.get("refund_id") or op.get("charge_id")
        at = op.get("answered_at") or op["requested_at"]
        yield _entry(at, "payment", f"{op['kind']} {op['status']}", ref, detail)


def _notifications(read: Read | None) -> Iterator[TimelineEntry]:
    for n in _body(read) or []:
        who = "customer" if str(n["recipient"]).startswith("customer:") else "staff"
        detail = f"{n['channel']} to the {who}: {n['subject']}"
        yield _entry(n["created_at"], "notification", n["status"], n["template"], detail)


def _cases(read: Read | None) -> Iterator[TimelineEntry]:
    for case in (_body(read) or {}).get("items", []):
        number = case["case_number"]
        yield _entry(case["opened_at"], "case", "opened", number, case["category"])
        if case.get("closed_at"):
            score = case.get("satisfaction")
            rated = f"satisfaction {score}/5" if score else "not rated"
            yield _entry(case["closed_at"], "case", "closed", number, rated)
        elif case["status"] not in ("new", "closed"):
            yield _entry(case["updated_at"], "case", case["status"], number, None)


def _feedback(read: Read | None) -> Iterator[TimelineEntry]:
    feedback = _body(read)
    if feedback:
        edited = f", changed {feedback['edits']} time(s)" if feedback.get("edits") else ""
        yield _entry(
            feedback["given_at"], "feedback", "given", None, f"rated {feedback['rating']}/5{edited}"
        )
