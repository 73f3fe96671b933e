"""Alembic environment of the payment service."""

from orderly_kit.migrations import run_env
from orderly_payment.adapters.orm import metadata

run_env(metadata)
