"""The committed JSON Schemas are exactly what the models render now, and the committed
ISO code lists what the pinned pycountry gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderly_dev import iso_codes
from orderly_schemas import export

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "jsonschema"
ISO_CODES = SCHEMAS_DIR.parent / "src" / "orderly_schemas" / "iso_codes.py"
RENDERED = {name: export.render(schema) for name, schema in export.json_schemas().items()}


@pytest.mark.parametrize("message_type", sorted(RENDERED))
def test_the_committed_json_schema_is_what_the_model_renders(message_type: str) -> None:
    path = SCHEMAS_DIR / f"{message_type}.json"

    committed = path.read_text() if path.exists() else None

    assert committed == RENDERED[message_type], f"{path.name} is stale: run make schemas"


def test_no_committed_json_schema_is_left_over_from_a_removed_message() -> None:
    committed = {path.stem for path in SCHEMAS_DIR.glob("*.json")}

    stale = sorted(committed - set(RENDERED))

    assert stale == [], f"no model renders {stale}: delete them and run make schemas"


def test_the_committed_iso_code_lists_are_what_pycountry_gives() -> None:
    assert ISO_CODES.read_text() == iso_codes.render(), "iso_codes.py is stale: run make schemas"
