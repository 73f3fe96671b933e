"""Alembic environment of the analytics service."""

from orderly_analytics.adapters.orm import metadata
from orderly_kit.migrations import run_env

run_env(metadata)
