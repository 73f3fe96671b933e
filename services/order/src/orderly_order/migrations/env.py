"""Alembic environment of the order service."""

from orderly_kit.migrations import run_env
from orderly_order.adapters.orm import metadata

run_env(metadata)
