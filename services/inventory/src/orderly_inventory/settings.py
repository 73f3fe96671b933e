"""Settings of the inventory service, read from INVENTORY_* environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from orderly_kit.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    service_name: str = "inventory"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/orderly_inventory"
    http_port: int = 8002
