"""Settings of the inventory service, read from INVENTORY_* environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings

#: Signs and verifies carrier webhooks in development and tests only: production must set
#: INVENTORY_CARRIER_WEBHOOK_SECRETS.
DEV_WEBHOOK_SECRET = "orderly-development-carrier-webhook-secret"  # noqa: S105 - public on purpose


def carrier_slug(name: str) -> str:
    """A carrier's name as its webhook's path has it: lower case, spaces as dashes."""
    return name.strip().lower().replace(" ", "-")


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    service_name: str = "inventory"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_inventory"
    http_port: int = 8002
    carrier_name: str = Field(
        default="SimPost",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$",
        description="the simulated carrier's name; its webhook is /carriers/<name, lower case>"
        "/webhooks",
    )
    carrier_in_transit_after_seconds: float = Field(
        default=1.0,
        ge=0,
        description="the simulated carrier reports a parcel in transit this long after booking"
        " (never later than its delivery)",
    )
    carrier_out_for_delivery_after_seconds: float = Field(
        default=3.0,
        ge=0,
        description="... and out for delivery this long after booking (never later than its"
        " delivery)",
    )
    delivery_delay_seconds: float = Field(
        default=5.0,
        ge=0,
        description="the simulated carrier reports a parcel delivered (or, to postal code 00001,"
        " failed) this long after booking",
    )
    delivery_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="how often the simulated carrier sends its due tracking updates to the webhook",
    )
    carrier_webhook_url: str | None = Field(
        default=None,
        description="where the simulated carrier POSTs tracking updates; by default this"
        " service's own webhook, http://127.0.0.1:<http_port>/carriers/<carrier>/webhooks",
    )
    carrier_webhook_secrets: SecretStr = Field(
        default=SecretStr(DEV_WEBHOOK_SECRET),
        description="comma-separated HMAC secrets a carrier webhook may be signed with (any one"
        " is accepted, so a secret can be rotated); the simulated carrier signs with the first."
        " Required in production",
    )
    carrier_webhook_tolerance_seconds: float = Field(
        default=300.0,
        gt=0,
        description="a carrier webhook whose signature timestamp is further than this from now"
        " is refused",
    )
    reservation_ttl_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="reserved stock is released (StockReservationExpired) if the order has"
        " not shipped this long after the reservation",
    )
    reservation_expiry_poll_seconds: float = Field(
        default=5.0, gt=0, description="how often the expiry job looks for expired reservations"
    )
    pick_delay_seconds: float = Field(
        default=0.0,
        ge=0,
        description="the warehouse picks and packs an order this long before handing it to"
        " the carrier; a ReleaseStock that comes meanwhile cancels the picking. 0 ships at"
        " once when ShipOrder arrives",
    )
    pick_poll_seconds: float = Field(
        default=0.5, gt=0, description="how often the picking job hands over pickings that are done"
    )

    @model_validator(mode="after")
    def _webhook_settings_are_sound(self) -> InventorySettings:
        if not self.webhook_secrets:
            raise ValueError("INVENTORY_CARRIER_WEBHOOK_SECRETS must name at least one secret")
        if self.environment == "production" and (
            "carrier_webhook_secrets" not in self.model_fields_set
            or DEV_WEBHOOK_SECRET in self.webhook_secrets
        ):
            raise ValueError(
                "in production INVENTORY_CARRIER_WEBHOOK_SECRETS must be set to secrets of your"
                " own (the development secret is public)"
            )
        if self.carrier_in_transit_after_seconds > self.carrier_out_for_delivery_after_seconds:
            raise ValueError(
                "INVENTORY_CARRIER_IN_TRANSIT_AFTER_SECONDS"
                f" ({self.carrier_in_transit_after_seconds}) must not be later than"
                " INVENTORY_CARRIER_OUT_FOR_DELIVERY_AFTER_SECONDS"
                f" ({self.carrier_out_for_delivery_after_seconds})"
            )
        return self

    @property
    def webhook_secrets(self) -> list[str]:
        """The carrier webhook secrets, the one to sign with first."""
        listed = self.carrier_webhook_secrets.get_secret_value().split(",")
        return [s.strip() for s in listed if s.strip()]

    @property
    def webhook_url(self) -> str:
        """Where the simulated carrier sends its tracking updates."""
        return (
            self.carrier_webhook_url
            or f"http://127.0.0.1:{self.http_port}/carriers/{carrier_slug(self.carrier_name)}/webhooks"
        )
