"""Settings of the order service, read from ORDER_* environment variables."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings
from orderly_order.domain.order import Timeouts
from orderly_order.domain.returns import ExchangeShips, ReturnPolicy
from orderly_schemas.base import MAX_AMOUNT


class OrderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDER_", extra="ignore")

    holds_personal_data = True
    service_name: str = "order"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_order"
    http_port: int = 8001
    auto_complete_after_seconds: float = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="a delivered order completes on its own after this long",
    )
    reply_timeout_seconds: float = Field(
        default=60,
        gt=0,
        description="how long the saga waits for an answer to a command before sending it again",
    )
    max_resends: int = Field(
        default=3,
        ge=0,
        le=100,
        description="re-sends of an unanswered command before the saga compensates",
    )
    compensation_timeout_seconds: float = Field(
        default=1800,
        gt=0,
        description="how long compensations (release, refund) may take before they are sent"
        " again; keep it above the payment service's refund retry horizon",
    )
    delivery_timeout_seconds: float = Field(
        default=14 * 24 * 3600,
        gt=0,
        description="a shipped order with no delivery after this long needs attention",
    )
    deadline_poll_seconds: float = Field(
        default=1.0, gt=0, description="how often expired saga deadlines are looked for"
    )
    saga_metrics_poll_seconds: float = Field(
        default=15.0, gt=0, description="how often the sagas-per-state gauges are refreshed"
    )

    return_window_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="how many days after delivery a customer may request a return",
    )
    return_auto_approve_max_amount: int = Field(
        default=5000,
        ge=0,
        le=MAX_AMOUNT,
        description="a return of damaged or wrong goods worth at most this (minor units of"
        " the order's currency) is approved at once; any other waits for support",
    )

    return_restocking_fee_percent: int = Field(
        default=10,
        ge=0,
        le=100,
        description="kept of the refund of goods returned for a reason of the customer's"
        " (no longer needed, other); none when the fault was ours",
    )
    return_label_valid_days: float = Field(
        default=14, gt=0, description="a return label unused after this many days expires"
    )
    return_transit_days: float = Field(
        default=14,
        gt=0,
        description="a return parcel on its way longer than this needs attention",
    )
    return_inspection_days: float = Field(
        default=3,
        gt=0,
        description="goods arrived at the warehouse and not inspected after this long need"
        " attention",
    )
    # Where support's timeline of an order reads what the other services keep of it (each
    # answers GET with the caller's own token); a service left out is shown as unavailable.
    inventory_url: str | None = Field(
        default=None, description="the inventory service's base URL (parcels and tracking)"
    )
    payment_url: str | None = Field(
        default=None, description="the payment service's base URL (captures, refunds)"
    )
    notification_url: str | None = Field(
        default=None, description="the notification service's base URL (messages sent)"
    )
    support_url: str | None = Field(
        default=None, description="the support service's base URL (cases and feedback)"
    )
    timeline_timeout_seconds: float = Field(
        default=2.0, gt=0, le=30, description="how long the timeline waits for each service"
    )
    exchange_ships: ExchangeShips = Field(
        default="on_receipt",
        description="when an exchange's replacement ships: on_receipt (once the returned goods"
        " are received and inspected: nothing risked) or on_approval (the customer waits less)",
    )

    def timeouts(self) -> Timeouts:
        return Timeouts(
            reply=timedelta(seconds=self.reply_timeout_seconds),
            max_resends=self.max_resends,
            compensation=timedelta(seconds=self.compensation_timeout_seconds),
            delivery=timedelta(seconds=self.delivery_timeout_seconds),
            auto_complete=timedelta(seconds=self.auto_complete_after_seconds),
        )

    def neighbours(self) -> dict[str, str]:
        """The services the timeline reads, by name, that have a URL."""
        urls = {
            "inventory": self.inventory_url,
            "payment": self.payment_url,
            "notification": self.notification_url,
            "support": self.support_url,
        }
        return {name: url.rstrip("/") for name, url in urls.items() if url}

    def return_policy(self) -> ReturnPolicy:
        return ReturnPolicy(
            window=timedelta(days=self.return_window_days),
            auto_approve_max_amount=self.return_auto_approve_max_amount,
            restocking_fee_percent=self.return_restocking_fee_percent,
            reply=timedelta(seconds=self.reply_timeout_seconds),
            max_resends=self.max_resends,
            refund=timedelta(seconds=self.compensation_timeout_seconds),
            label_valid=timedelta(days=self.return_label_valid_days),
            transit=timedelta(days=self.return_transit_days),
            inspection=timedelta(days=self.return_inspection_days),
            exchange_ships=self.exchange_ships,
        )
