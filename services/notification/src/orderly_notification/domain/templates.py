"""The message for each public order lifecycle event, each step of a return and of a case
(no I/O): to the customer, to finance for an order that needs attention, to support for a
return that needs attention or a case that missed an agreement; and the warehouse team's
low-stock alerts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from orderly_notification.domain.money import format_money
from orderly_schemas.base import Message
from orderly_schemas.inventory import BackInStock, LowStockDetected
from orderly_schemas.order import (
    OrderCancelled,
    OrderClaimed,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderEvent,
    OrderNeedsAttention,
    OrderPaid,
    OrderRejected,
    OrderReshipped,
)
from orderly_schemas.returns import (
    ReturnApproved,
    ReturnCompleted,
    ReturnEvent,
    ReturnExpired,
    ReturnLabelIssued,
    ReturnNeedsAttention,
    ReturnReceived,
    ReturnRejected,
    ReturnReplacementShipped,
    ReturnReplacementUnavailable,
    ReturnRequested,
)
from orderly_schemas.support import (
    CaseClosed,
    CaseEvent,
    CaseOpened,
    CaseSlaBreached,
    CaseStatusChanged,
)

SIGNATURE: Final = "\n\nThe Orderly team"


@dataclass(frozen=True)
class RenderedMessage:
    """A message ready for a channel, and the template it came from."""

    template: str
    subject: str
    body: str


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%d %B %Y, %H:%M} UTC"


def _order_confirmed(e: OrderConfirmed) -> tuple[str, str]:
    lines = "\n".join(
        f"  {line.quantity} x {line.sku} at {format_money(line.unit_price)}" for line in e.lines
    )
    return (
        f"Your order {e.order_number} is confirmed",
        f"Thank you for your order {e.order_number}.\n\n{lines}\n\n"
        f"Total: {format_money(e.total)}\n\n"
        "We are reserving your items and will let you know when payment is taken.",
    )


def _order_rejected(e: OrderRejected) -> tuple[str, str]:
    return (
        f"We could not accept your order {e.order_number}",
        f"We are sorry: your order {e.order_number} could not be accepted ({e.reason}).\n\n"
        "You have not been charged.",
    )


def _order_cancelled(e: OrderCancelled) -> tuple[str, str]:
    return (
        f"Your order {e.order_number} is cancelled",
        f"Your order {e.order_number} has been cancelled ({e.reason}).\n\n"
        "Any items held for you are released; if you were charged, the amount is refunded"
        " to your original payment method.",
    )


def _order_paid(e: OrderPaid) -> tuple[str, str]:
    return (
        f"Payment received for order {e.order_number}",
        f"We have received your payment of {format_money(e.amount)} for order"
        f" {e.order_number} (payment {e.payment_id}).\n\nWe are preparing your parcel.",
    )


def _tracking(numbers: list[str]) -> str:
    """The parcels' tracking numbers, as a line of a message."""
    noun = "number" if len(numbers) == 1 else "numbers"
    return f"Tracking {noun}: {', '.join(numbers)}"


def _order_dispatched(e: OrderDispatched) -> tuple[str, str]:
    return (
        f"Your order {e.order_number} is on its way",
        f"Your order {e.order_number} has left our warehouse with {e.carrier}.\n\n"
        + _tracking(e.tracking_numbers),
    )


def _order_delivered(e: OrderDelivered) -> tuple[str, str]:
    return (
        f"Your order {e.order_number} was delivered",
        f"Your order {e.order_number} was delivered on {_when(e.delivered_at)}.\n\n"
        "Please confirm that it arrived, or tell us if anything is wrong.",
    )


def _order_completed(e: OrderCompleted) -> tuple[str, str]:
    return (
        f"Thank you: order {e.order_number} is complete",
        f"Your order {e.order_number} is complete. Thank you for shopping with us.",
    )


def _order_needs_attention(e: OrderNeedsAttention) -> tuple[str, str]:
    at_stake = f" Amount at stake: {format_money(e.amount)}." if e.amount else ""
    return (
        # The time tells apart an order that needs attention again (after a claim).
        f"Action needed: order {e.order_number} ({_when(e.occurred_at)})",
        f"Order {e.order_number} (customer {e.customer_id}) needs attention since"
        f" {_when(e.occurred_at)}: {e.reason}.{at_stake}\n\n"
        f"Look it up with GET /orders/{e.order_number}; once settled, retry with"
        f" `python -m orderly_order sagas retry {e.order_number} --reason ...`.",
    )


def _order_claimed(e: OrderClaimed) -> tuple[str, str]:
    what = "was lost" if e.kind == "lost" else "arrived damaged"
    by = f" with {e.carrier}" if e.carrier else ""
    if e.resolution == "reshipment":
        return (
            f"We are sending order {e.order_number} again ({e.claim_number})",
            f"We are sorry: your parcel of order {e.order_number} {what} on its way{by}.\n\n"
            "We are sending the same goods again, at no cost to you; you will get the new"
            f" tracking number when they leave our warehouse.\n\nYour claim: {e.claim_number}",
        )
    return (
        f"We are refunding order {e.order_number} ({e.claim_number})",
        f"We are sorry: your parcel of order {e.order_number} {what} on its way{by}.\n\n"
        "We are refunding the full amount to your original payment method.\n\n"
        f"Your claim: {e.claim_number}",
    )


def _order_reshipped(e: OrderReshipped) -> tuple[str, str]:
    return (
        f"Your replacement for order {e.order_number} is on its way",
        f"The replacement for your order {e.order_number} has left our warehouse with"
        f" {e.carrier}.\n\n" + _tracking(e.tracking_numbers),
    )


def _units(e: ReturnEvent) -> str:
    return "\n".join(f"  {line.quantity} x {line.sku}" for line in e.lines)


def _return_requested(e: ReturnRequested) -> tuple[str, str]:
    return (
        f"We received your return request {e.return_number}",
        f"You asked to return, from order {e.order_number}:\n\n{_units(e)}\n\n"
        "We will tell you when it is approved and send you a return label.",
    )


def _return_approved(e: ReturnApproved) -> tuple[str, str]:
    return (
        f"Your return {e.return_number} is approved",
        f"Your return {e.return_number} of order {e.order_number} is approved. A return label"
        " follows in a separate message.",
    )


def _return_rejected(e: ReturnRejected) -> tuple[str, str]:
    return (
        f"We cannot accept your return {e.return_number}",
        f"We are sorry: your return {e.return_number} of order {e.order_number} was not"
        f" accepted ({e.rejection_reason}).\n\nReply to this message if you disagree.",
    )


def _return_label_issued(e: ReturnLabelIssued) -> tuple[str, str]:
    return (
        f"Your return label for {e.return_number}",
        f"{e.carrier} will collect your return {e.return_number}. Label and tracking number:"
        f" {e.tracking_number}.\n\nPlease hand the parcel over by {_when(e.expires_at)};"
        " after that the label expires and the return is closed.",
    )


def _return_received(e: ReturnReceived) -> tuple[str, str]:
    found = "\n".join(f"  {line.quantity} x {line.sku}: {line.condition}" for line in e.received)
    return (
        f"We received your return {e.return_number}",
        f"Your return {e.return_number} reached our warehouse and was inspected:\n\n{found}"
        "\n\nWe are refunding what qualifies.",
    )


def _return_completed(e: ReturnCompleted) -> tuple[str, str]:
    if e.resolution == "exchange" and e.refunded.amount == 0:
        outcome = "Your replacement is on its way."
    elif e.refunded.amount == 0:
        outcome = "No refund is due for the goods as they came back."
    else:
        outcome = f"We refunded {format_money(e.refunded)} to your original payment method."
    if e.restocking_fee.amount:
        outcome += f" A restocking fee of {format_money(e.restocking_fee)} was kept."
    if e.charged is not None:
        outcome += f" The price difference of {format_money(e.charged)} was charged."
    return (
        f"Your return {e.return_number} is complete",
        f"Your return {e.return_number} of order {e.order_number} is complete. {outcome}",
    )


def _return_replacement_shipped(e: ReturnReplacementShipped) -> tuple[str, str]:
    goods = "\n".join(f"  {line.quantity} x {line.sku}" for line in e.replacement)
    return (
        f"Your exchange {e.return_number}: the replacement is on its way",
        f"The goods you get in exchange (return {e.return_number} of order {e.order_number})"
        f" have left our warehouse with {e.carrier}:\n{goods}\n\n"
        f"Tracking: {', '.join(e.tracking_numbers)}",
    )


def _return_replacement_unavailable(e: ReturnReplacementUnavailable) -> tuple[str, str]:
    return (
        f"Your exchange {e.return_number} becomes a refund",
        f"We are sorry: we cannot send the goods you chose in exchange (return"
        f" {e.return_number} of order {e.order_number}): {e.unavailable_reason}.\n\n"
        "We refund the goods you send back instead, with no restocking fee, and anything"
        " you paid for the exchange.",
    )


def _return_expired(e: ReturnExpired) -> tuple[str, str]:
    return (
        f"Your return {e.return_number} has expired",
        f"Your return {e.return_number} of order {e.order_number} is closed:"
        f" {e.expired_reason}.\n\nIf you still want to return the goods, ask us again while"
        " the return window is open.",
    )


def _return_needs_attention(e: ReturnNeedsAttention) -> tuple[str, str]:
    return (
        f"Action needed: return {e.return_number}",
        f"Return {e.return_number} of order {e.order_number} (customer {e.customer_id}) needs"
        f" attention since {_when(e.occurred_at)}: {e.attention_reason}.\n\n"
        f"Look it up with GET /returns/{e.return_id}; once settled, resume it with"
        f" POST /returns/{e.return_id}/retry.",
    )


def _case_opened(e: CaseOpened) -> tuple[str, str]:
    about = f" about order {e.order_number}" if e.order_number else ""
    if e.opened_by == "support":
        return (
            f"We opened case {e.case_number} for you",
            f"Our support team opened case {e.case_number} ({e.category}){about} for you and"
            " will write to you there.",
        )
    return (
        f"We have your case {e.case_number}",
        f"Thank you: your case {e.case_number} ({e.category}){about} is with our support team,"
        f" who will answer by {_when(e.first_response_due_at)}.",
    )


def _case_status_changed(e: CaseStatusChanged) -> tuple[str, str]:
    if e.to_status == "waiting_on_customer":
        return (
            f"Case {e.case_number}: we need your answer",
            f"Our support team answered in your case {e.case_number} and waits for your reply.",
        )
    return (
        f"Case {e.case_number} is resolved",
        f"We have resolved your case {e.case_number}. If anything is still wrong, reply in the"
        " case and it opens again; otherwise, please tell us how we did (1 to 5).",
    )


def _case_closed(e: CaseClosed) -> tuple[str, str]:
    if e.satisfaction is not None:
        return (
            f"Thank you for rating case {e.case_number}",
            f"Thank you for rating our help with case {e.case_number}: {e.satisfaction} of 5.",
        )
    return (
        f"Your case {e.case_number} is closed",
        f"Your case {e.case_number} is closed. Please tell us how we did (1 to 5).",
    )


def _case_sla_breached(e: CaseSlaBreached) -> tuple[str, str]:
    agreement = "first response" if e.sla == "first_response" else "resolution"
    return (
        f"Case {e.case_number} missed its {agreement} agreement",
        f"Case {e.case_number} ({e.category}, customer {e.customer_id}) was due its"
        f" {agreement} by {_when(e.due_at)}.\n\nLook it up with GET /cases/{e.case_id}, or"
        " `python -m orderly_support cases breached`.",
    )


def _low_stock(e: LowStockDetected) -> tuple[str, str]:
    return (
        f"Low stock: {e.sku} at {e.warehouse} ({e.available} available)",
        f"Available stock of {e.sku} at warehouse {e.warehouse} fell to {e.available},"
        f" below its safety stock of {e.safety_stock}, on {_when(e.occurred_at)}.\n\n"
        "Reorder or transfer stock. Every level below its safety stock:"
        f" GET /stock?warehouse={e.warehouse}&low_only=true",
    )


def _back_in_stock(e: BackInStock) -> tuple[str, str]:
    return (
        f"Back in stock: {e.sku} at {e.warehouse} ({e.available} available)",
        f"Available stock of {e.sku} at warehouse {e.warehouse} is back at {e.available},"
        f" at or above its safety stock of {e.safety_stock}, since {_when(e.occurred_at)}.",
    )


_TEMPLATES: Final[dict[type[Message], tuple[str, Callable[[Any], tuple[str, str]]]]] = {
    OrderConfirmed: ("order_confirmed", _order_confirmed),
    OrderRejected: ("order_rejected", _order_rejected),
    OrderCancelled: ("order_cancelled", _order_cancelled),
    OrderPaid: ("order_paid", _order_paid),
    OrderDispatched: ("order_dispatched", _order_dispatched),
    OrderDelivered: ("order_delivered", _order_delivered),
    OrderCompleted: ("order_completed", _order_completed),
    OrderNeedsAttention: ("order_needs_attention", _order_needs_attention),
    OrderClaimed: ("order_claimed", _order_claimed),
    OrderReshipped: ("order_reshipped", _order_reshipped),
    ReturnRequested: ("return_requested", _return_requested),
    ReturnApproved: ("return_approved", _return_approved),
    ReturnRejected: ("return_rejected", _return_rejected),
    ReturnLabelIssued: ("return_label_issued", _return_label_issued),
    ReturnReceived: ("return_received", _return_received),
    ReturnCompleted: ("return_completed", _return_completed),
    ReturnExpired: ("return_expired", _return_expired),
    ReturnNeedsAttention: ("return_needs_attention", _return_needs_attention),
    ReturnReplacementShipped: ("return_replacement_shipped", _return_replacement_shipped),
    ReturnReplacementUnavailable: (
        "return_replacement_unavailable",
        _return_replacement_unavailable,
    ),
    CaseOpened: ("case_opened", _case_opened),
    CaseStatusChanged: ("case_status_changed", _case_status_changed),
    CaseClosed: ("case_closed", _case_closed),
    CaseSlaBreached: ("case_sla_breached", _case_sla_breached),
    LowStockDetected: ("low-stock", _low_stock),
    BackInStock: ("back-in-stock", _back_in_stock),
}


#: What the service tells someone about: an order's step, a return's, a case's, a stock
#: level's.
Notified = OrderEvent | ReturnEvent | CaseEvent | LowStockDetected | BackInStock


def render(event: Notified) -> RenderedMessage:
    """The subject and body telling the customer (or the team) about ``event``."""
    try:
        template, fill = _TEMPLATES[type(event)]
    except KeyError:
        raise LookupError(f"no template for {event.message_type()}") from None
    subject, body = fill(event)
    if isinstance(event, CaseStatusChanged):  # one template per step told
        template = f"case_{event.to_status}"
    elif isinstance(event, CaseClosed) and event.satisfaction is not None:
        template = "case_rated"
    return RenderedMessage(template=template, subject=subject, body=body + SIGNATURE)
