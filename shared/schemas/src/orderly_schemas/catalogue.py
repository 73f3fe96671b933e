"""Every message type, by its CloudEvents type, and how to decode one."""

from __future__ import annotations

from typing import Final

from orderly_schemas.base import Message
from orderly_schemas.checkout import OrderPlaced
from orderly_schemas.inventory import (
    BackInStock,
    BookReturnParcel,
    LowStockDetected,
    OrderShipped,
    ReleaseStock,
    ReplacementDelivered,
    ReplacementFailed,
    ReplacementRefused,
    ReplacementShipped,
    ReserveStock,
    RestockReturn,
    ReturnParcelBooked,
    ReturnParcelRefused,
    ReturnParcelTracked,
    ReturnRestocked,
    ShipmentDelivered,
    ShipmentFailed,
    ShipmentTracked,
    ShipOrder,
    ShipReplacement,
    StockAdjusted,
    StockReceived,
    StockReleased,
    StockReservationExpired,
    StockReservationFailed,
    StockReserved,
    StockTransferred,
)
from orderly_schemas.notification import NotificationFailed, NotificationSent
from orderly_schemas.order import (
    OrderCancelled,
    OrderClaimed,
    OrderCompleted,
    OrderConfirmed,
    OrderDelivered,
    OrderDispatched,
    OrderNeedsAttention,
    OrderPaid,
    OrderRejected,
    OrderReshipped,
)
from orderly_schemas.payment import (
    CapturePayment,
    ChargeFailed,
    ChargePayment,
    PaymentCaptured,
    PaymentCharged,
    PaymentFailed,
    PaymentRefunded,
    PaymentVoided,
    RefundFailed,
    RefundPayment,
)
from orderly_schemas.personal import CustomerErased
from orderly_schemas.returns import (
    ReturnApproved,
    ReturnCompleted,
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
    CaseOpened,
    CaseSlaBreached,
    CaseStatusChanged,
    FeedbackGiven,
)

MESSAGE_TYPES: Final[tuple[type[Message], ...]] = (
    OrderPlaced,
    OrderConfirmed,
    OrderRejected,
    OrderCancelled,
    OrderPaid,
    OrderDispatched,
    OrderDelivered,
    OrderCompleted,
    OrderNeedsAttention,
    OrderClaimed,
    OrderReshipped,
    CustomerErased,
    ReturnRequested,
    ReturnApproved,
    ReturnRejected,
    ReturnLabelIssued,
    ReturnReceived,
    ReturnCompleted,
    ReturnExpired,
    ReturnNeedsAttention,
    ReturnReplacementShipped,
    ReturnReplacementUnavailable,
    ReserveStock,
    ReleaseStock,
    ShipOrder,
    RestockReturn,
    BookReturnParcel,
    ShipReplacement,
    StockReserved,
    StockReservationFailed,
    StockReleased,
    StockReservationExpired,
    OrderShipped,
    ShipmentFailed,
    ShipmentDelivered,
    ShipmentTracked,
    ReturnRestocked,
    ReturnParcelBooked,
    ReturnParcelRefused,
    ReturnParcelTracked,
    ReplacementShipped,
    ReplacementRefused,
    ReplacementDelivered,
    ReplacementFailed,
    LowStockDetected,
    BackInStock,
    StockAdjusted,
    StockReceived,
    StockTransferred,
    CapturePayment,
    RefundPayment,
    ChargePayment,
    PaymentCaptured,
    PaymentFailed,
    PaymentRefunded,
    PaymentVoided,
    RefundFailed,
    PaymentCharged,
    ChargeFailed,
    NotificationSent,
    NotificationFailed,
    FeedbackGiven,
    CaseOpened,
    CaseStatusChanged,
    CaseSlaBreached,
    CaseClosed,
)

BY_TYPE: Final[dict[str, type[Message]]] = {m.message_type(): m for m in MESSAGE_TYPES}


class UnknownMessageTypeError(LookupError):
    """A message named a CloudEvents type that this contract version does not define."""


class MisplacedMessageError(LookupError):
    """A message of a type the contract defines arrived on a topic it does not belong on."""


def message_class(message_type: str) -> type[Message]:
    """The model class of ``message_type``."""
    try:
        return BY_TYPE[message_type]
    except KeyError:
        raise UnknownMessageTypeError(
            f"unknown message type {message_type!r}; known types: {', '.join(sorted(BY_TYPE))}"
        ) from None


def message_class_on(topic: str, message_type: str) -> type[Message]:
    """The model class of ``message_type``, a type that belongs on ``topic``: raises
    UnknownMessageTypeError for a type the contract does not define and
    MisplacedMessageError for one of another topic (``OrderCancelled`` on
    ``checkout.orders.v1``)."""
    cls = message_class(message_type)
    if cls.topic != topic:
        raise MisplacedMessageError(f"{message_type} belongs on {cls.topic}, not on {topic}")
    return cls


def decode(message_type: str, body: bytes | str) -> Message:
    """Validate ``body`` (JSON) as a message of ``message_type``."""
    return message_class(message_type).model_validate_json(body)
