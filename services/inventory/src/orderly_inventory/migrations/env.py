"""Alembic environment of the inventory service."""

from orderly_inventory.adapters.orm import metadata
from orderly_kit.migrations import run_env

run_env(metadata)
