"""Alembic environment of the inventory service."""

from orderly_kit.migrations import run_env
from orderly_inventory.adapters.orm import metadata

run_env(metadata)
