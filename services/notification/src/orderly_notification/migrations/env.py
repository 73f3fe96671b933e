"""Alembic environment of the notification service."""

from orderly_kit.migrations import run_env
from orderly_notification.adapters.orm import metadata

run_env(metadata)
