"""Settings of the inventory service, read from INVENTORY_* environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from orderly_inventory.domain.allocation import Policy
from orderly_inventory.domain.regions import Region, Regions
from orderly_kit.settings import ServiceSettings
from orderly_kit.webhook_signature import split_secrets

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
PostalPrefix = Annotated[str, StringConstraints(min_length=1, max_length=20)]
#: As warehouses.region, which names the region a warehouse belongs to.
RegionName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class RegionSpec(BaseModel):
    """One region of INVENTORY_REGIONS: countries it serves whole, postal prefixes per country."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    countries: list[CountryCode] = Field(
        default_factory=list, description="ISO 3166-1 alpha-2 codes served whole, e.g. DE"
    )
    postal_prefixes: dict[CountryCode, list[PostalPrefix]] = Field(
        default_factory=dict,
        description="country → postal-code prefixes served (spaces and case ignored);"
        " a prefix beats a whole country, a longer prefix a shorter one",
    )


def _regions(specs: dict[str, RegionSpec]) -> Regions:
    return Regions(
        Region(
            name=name,
            countries=frozenset(spec.countries),
            postal_prefixes={c: frozenset(p) for c, p in spec.postal_prefixes.items()},
        )
        for name, spec in specs.items()
    )


#: Signs and verifies carrier webhooks in development and tests only: production must set
#: INVENTORY_CARRIER_WEBHOOK_SECRETS.
DEV_WEBHOOK_SECRET = "orderly-development-carrier-webhook-secret"  # noqa: S105 - public on purpose


def carrier_slug(name: str) -> str:
    """A carrier's name as its webhook's path has it: lower case, spaces as dashes."""
    return name.strip().lower().replace(" ", "-")


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    holds_personal_data = True
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
    carrier_return_in_transit_after_seconds: float = Field(
        default=1.0,
        ge=0,
        description="the simulated carrier reports a return parcel collected and in transit"
        " this long after booking (never later than its delivery)",
    )
    carrier_return_delivered_after_seconds: float = Field(
        default=5.0,
        ge=0,
        description="... and delivered to the warehouse this long after booking",
    )
    delivery_poll_seconds: float = Field(
        default=1.0,
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
        description="the warehouse picks and packs an order (or a replacement) this long"
        " before handing it to the carrier; a ReleaseStock that comes meanwhile cancels the"
        " order's picking. 0 ships at once when ShipOrder (or ShipReplacement) arrives",
    )
    pick_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="how often the picking jobs hand over the pickings (and replacements)"
        " that are done",
    )
    import_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        description="an ERP import file (CSV or JSON) larger than this is refused (413): split it",
    )
    import_max_rows: int = Field(
        default=50_000,
        ge=1,
        description="an ERP import file with more rows than this is refused (413): split it;"
        " a file is applied in one transaction",
    )
    export_max_days: float = Field(
        default=93,
        gt=0,
        description="the longest period GET /movements/export and export-movements accept",
    )
    allocation_policy: Policy = Field(
        default=Policy.PRIORITY,
        description="which warehouses serve an order: priority (warehouses.priority, lower"
        " first), most_stock (the most available units of the order's SKUs first) or nearest"
        " (warehouses whose region serves the ship-to address first, then priority). An order"
        " is served whole by one warehouse when one can, else split over the fewest",
    )
    regions: dict[RegionName, RegionSpec] = Field(
        default_factory=dict,
        description="JSON: region name (as warehouses.region) → {countries: [...],"
        ' postal_prefixes: {country: [...]}}, e.g. {"east": {"countries": ["DE", "PL"]},'
        ' "west": {"countries": ["FR"], "postal_prefixes": {"DE": ["66", "67"]}}}',
    )

    @field_validator("regions")
    @classmethod
    def _regions_do_not_overlap(cls, value: dict[str, RegionSpec]) -> dict[str, RegionSpec]:
        _regions(value)  # raises ValueError naming the country or prefix claimed twice
        return value

    @model_validator(mode="after")
    def _nearest_needs_regions(self) -> InventorySettings:
        if self.allocation_policy is Policy.NEAREST and not self.regions:
            raise ValueError(
                "allocation_policy='nearest' needs regions: set INVENTORY_REGIONS to the JSON"
                ' map of region → addresses it serves (e.g. {"east": {"countries": ["DE"]}}),'
                " or choose the priority or most_stock policy"
            )
        return self

    def region_map(self) -> Regions:
        """The regions, ready to say which one serves an address."""
        return _regions(self.regions)

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
        return split_secrets(self.carrier_webhook_secrets.get_secret_value())

    @property
    def webhook_url(self) -> str:
        """Where the simulated carrier sends its tracking updates."""
        return (
            self.carrier_webhook_url
            or f"http://127.0.0.1:{self.http_port}/carriers/{carrier_slug(self.carrier_name)}/webhooks"
        )
