"""Settings of the inventory service, read from INVENTORY_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    service_name: str = "inventory"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_inventory"
    http_port: int = 8002
    carrier_name: str = "SimPost"
    delivery_delay_seconds: float = Field(
        default=5.0, ge=0, description="the simulated carrier delivers this long after shipping"
    )
    delivery_poll_seconds: float = Field(default=0.5, gt=0)
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
