"""Writes (or checks) the committed JSON Schema of every message."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from orderly_schemas.catalogue import MESSAGE_TYPES
from orderly_schemas.closed import ClosedMessage, close


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each message, by message type."""
    schemas: dict[str, dict[str, Any]] = {}
    for cls in MESSAGE_TYPES:
        schema = cls.model_json_schema(mode="validation")
        if issubclass(cls, ClosedMessage):
            schema = close(schema)
        schema["$id"] = f"urn:orderly:schema:{cls.topic}:{cls.message_type()}"
        schema["x-topic"] = cls.topic
        schema["x-ce-type"] = cls.message_type()
        schemas[cls.message_type()] = schema
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the schemas to a folder, or with --check report any that differ."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if the folder is stale")
    args = parser.parse_args(argv)
    stale = []
    args.folder.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        path = args.folder / f"{name}.json"
        text = render(schema)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale JSON Schemas (run make schemas): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
