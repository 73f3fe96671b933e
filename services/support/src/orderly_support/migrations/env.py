"""Alembic environment of the support service."""

from orderly_kit.migrations import run_env
from orderly_support.adapters.orm import metadata

run_env(metadata)
