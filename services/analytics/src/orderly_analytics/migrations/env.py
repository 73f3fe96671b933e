"""Alembic environment of the analytics service."""

from orderly_kit.migrations import run_env
from orderly_analytics.adapters.orm import metadata

run_env(metadata)
