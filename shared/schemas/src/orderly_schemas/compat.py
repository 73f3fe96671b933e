"""Finds backward-incompatible changes between a released JSON Schema and the current one.

The rule, for one message type: every message that was valid under the old schema
stays valid under the new one (so what is already on a topic stays readable), and
no field that consumers read disappears. Adding an optional field, adding a member
to a union, making a field nullable or loosening a constraint is compatible;
removing or renaming a field, changing a type, adding a required field, making a
field required or non-nullable, removing an enum value and tightening a format,
pattern or bound are not.

Schemas are compared as pydantic emits them: ``$defs`` and ``$ref``, ``anyOf`` with
``{"type": "null"}`` for optionals, nested models. Messages name the field by its
path: ``OrderPlaced.lines[].quantity`` is ``quantity`` in each item of ``lines``;
``{}`` stands for the values of a map and ``[0]`` for a tuple position.

A break made on purpose (a bound the services' databases always had, say) is listed
beside the baseline folder ``v1/`` in ``v1.accepted.toml``: each entry a regular
expression matching the whole of the messages it accepts, the date and the reason. An
entry that matches nothing any more is reported too, so the list never outlives its
breaks.

``python -m orderly_schemas.compat <baseline_dir>`` checks the current models
against a folder of released ``<Type>.json`` files and exits 1 with the messages.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from orderly_schemas.export import json_schemas

Schema = dict[str, Any]

# A bound is tightened when a lower bound grows or an upper bound shrinks.
_LOWER_BOUNDS: Final = (
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
)
_UPPER_BOUNDS: Final = (
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
)
_JSON_TYPES: Final[dict[type, str]] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    type(None): "null",
    dict: "object",
    list: "array",
}

# Pairs of definitions already being compared: recursive models end there.
_Seen = frozenset[tuple[str, str]]


def incompatibilities(message_type: str, old: Schema, new: Schema) -> list[str]:
    """Every backward-incompatible change from ``old`` to ``new``, one human message each."""
    checker = _Checker(message_type, old, new)
    problems = checker.compare("", old, new, frozenset())
    for key, what in (("x-topic", "topic"), ("x-ce-type", "CloudEvents type")):
        # Exported schemas carry these annotations; a bare model_json_schema() does not.
        if key in old and key in new and old[key] != new[key]:
            problems.append(
                checker.say(
                    "",
                    f"{what} changed from {old[key]!r} to {new[key]!r};"
                    " a new topic version needs a new major version and a new baseline",
                )
            )
    return problems


@dataclass(frozen=True)
class AcceptedBreak:
    """A break of a released baseline made on purpose: the messages it accepts, when, why."""

    match: re.Pattern[str]
    since: date
    why: str

    def accepts(self, problem: str) -> bool:
        return self.match.fullmatch(problem) is not None


def accepted_breaks(folder: Path) -> list[AcceptedBreak]:
    """The breaks accepted against the baseline ``folder``: ``<folder>.accepted.toml``
    beside it (``[[accepted]]`` entries of ``match``, ``since`` and ``why``), or none."""
    path = folder.parent / f"{folder.name}.accepted.toml"
    if not path.exists():
        return []
    entries = tomllib.loads(path.read_text())["accepted"]
    return [
        AcceptedBreak(match=re.compile(e["match"]), since=e["since"], why=e["why"]) for e in entries
    ]


def unaccepted(problems: Sequence[str], accepted: Sequence[AcceptedBreak]) -> list[str]:
    """The ``problems`` that no accepted break covers."""
    return [p for p in problems if not any(a.accepts(p) for a in accepted)]


def check_baseline(folder: Path, current: Mapping[str, Schema]) -> list[str]:
    """Compare the ``<Type>.json`` files of a baseline folder with ``current`` schemas;
    the breaks accepted beside it (``accepted_breaks``) are left out, and an accepted
    break that matches none is a problem of its own."""
    problems = _check_baseline(folder, current)
    accepted = accepted_breaks(folder)
    stale = [
        f"accepted break '{a.match.pattern}' ({a.since}) matches no change any more;"
        " remove it from the accepted list"
        for a in accepted
        if not any(a.accepts(p) for p in problems)
    ]
    return unaccepted(problems, accepted) + stale


def _check_baseline(folder: Path, current: Mapping[str, Schema]) -> list[str]:
    files = sorted(folder.glob("*.json"))
    if not files:
        return [f"{folder}: no <Type>.json baseline schemas found"]
    problems: list[str] = []
    for path in files:
        message_type = path.stem
        old: Schema = json.loads(path.read_text())
        if message_type not in current:
            topic = old.get("x-topic", "its topic")
            problems.append(
                f"{message_type}: message type removed; consumers of {topic} still expect it"
            )
            continue
        problems.extend(incompatibilities(message_type, old, current[message_type]))
    return problems


def main(argv: list[str] | None = None) -> int:
    """Check the current message models against a released baseline folder."""
    parser = argparse.ArgumentParser(
        prog="python -m orderly_schemas.compat",
        description="Fail if the current message models break a released baseline.",
    )
    parser.add_argument("baseline", type=Path, help="folder of released <Type>.json schemas")
    args = parser.parse_args(argv)
    folder: Path = args.baseline
    if not folder.is_dir():
        print(f"{folder}: not a folder of baseline schemas", file=sys.stderr)
        return 2
    problems = check_baseline(folder, json_schemas())
    if problems:
        print(f"backward-incompatible changes against {folder}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    count = len(list(folder.glob("*.json")))
    print(f"{count} message types compatible with {folder}")
    return 0


class _Checker:
    def __init__(self, message_type: str, old_root: Schema, new_root: Schema) -> None:
        self.message_type = message_type
        self.old_root = old_root
        self.new_root = new_root

    def say(self, path: str, what: str) -> str:
        where = f"{self.message_type}.{path}" if path else self.message_type
        return f"{where}: {what}"

    # -- one field, which may be a union -------------------------------------------
    def compare(self, path: str, old: Schema, new: Schema, seen: _Seen) -> list[str]:
        old_nullable, old_variants = _variants(old, self.old_root)
        new_nullable, new_variants = _variants(new, self.new_root)
        new_accepts_any = any(not _types(v) for _, v in new_variants)
        problems: list[str] = []
        if old_nullable and not (new_nullable or new_accepts_any):
            problems.append(
                self.say(path, "no longer nullable; messages with null are now rejected")
            )
        for old_ref, old_variant in old_variants:
            attempts: list[tuple[Schema, list[str]]] = []
            for new_ref, new_variant in new_variants:
                pair = (old_ref, new_ref)
                if old_ref and new_ref and pair in seen:
                    found: list[str] = []
                else:
                    found = self._compare_one(path, old_variant, new_variant, seen | {pair})
                if not found:
                    break
                attempts.append((new_variant, found))
            else:
                problems.extend(self._best_explanation(path, old_variant, attempts, new_variants))
        return problems

    def _best_explanation(
        self,
        path: str,
        old: Schema,
        attempts: list[tuple[Schema, list[str]]],
        new_variants: list[tuple[str, Schema]],
    ) -> list[str]:
        # Explain against the new variant of the same type, if any; else the type changed.
        old_types = _types(old)
        alike = [found for variant, found in attempts if _types(variant) & old_types]
        if alike:
            return min(alike, key=len)
        now = " or ".join(_describe(v) for _, v in new_variants) or "null only"
        return [self.say(path, f"type changed from {_describe(old)} to {now}")]

    # -- one non-null alternative -----------------------------------------------------
    def _compare_one(self, path: str, old: Schema, new: Schema, seen: _Seen) -> list[str]:
        old_types, new_types = _types(old), _types(new)
        if not new_types:
            return []  # the new schema accepts anything
        if not old_types or not old_types <= new_types:
            return [self.say(path, f"type changed from {_describe(old)} to {_describe(new)}")]
        problems = self._values(path, old, new) + self._bounds(path, old, new)
        if "object" in old_types:
            problems += self._object(path, old, new, seen)
        if "array" in old_types:
            problems += self._array(path, old, new, seen)
        return problems

    def _values(self, path: str, old: Schema, new: Schema) -> list[str]:
        old_values, new_values = _allowed_values(old), _allowed_values(new)
        if new_values is None:
            return []
        if old_values is None:
            return [self.say(path, f"now restricted to {_listed(new_values)}")]
        removed = [v for v in old_values if v not in new_values]
        if removed:
            return [self.say(path, f"value(s) {removed!r} removed; now only {_listed(new_values)}")]
        return []

    def _bounds(self, path: str, old: Schema, new: Schema) -> list[str]:
        problems: list[str] = []
        for key in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
            if key not in new:
                continue
            before, after = old.get(key), new[key]
            tighter = before is None or (after > before if key in _LOWER_BOUNDS else after < before)
            if tighter:
                problems.append(self.say(path, f"{key} tightened from {before} to {after}"))
        for key in ("format", "pattern", "multipleOf"):
            if key in new and old.get(key) != new[key]:
                problems.append(
                    self.say(path, f"{key} changed from {old.get(key)!r} to {new[key]!r}")
                )
        if new.get("uniqueItems") and not old.get("uniqueItems"):
            problems.append(self.say(path, "items must now be unique"))
        return problems

    def _object(self, path: str, old: Schema, new: Schema, seen: _Seen) -> list[str]:
        old_props: Schema = old.get("properties", {})
        new_props: Schema = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        added = [name for name in new_props if name not in old_props]
        problems: list[str] = []
        for name, old_prop in old_props.items():
            field = _join(path, name)
            if name not in new_props:
                hint = f" (renamed?); new at the same level: {', '.join(added)}" if added else ""
                problems.append(self.say(field, f"removed{hint}"))
                continue
            if name in new_required and name not in old_required:
                problems.append(
                    self.say(field, "became required; messages without it are now rejected")
                )
            problems += self.compare(field, old_prop, new_props[name], seen)
        for name in added:
            if name in new_required:
                problems.append(
                    self.say(
                        _join(path, name),
                        "new required field; messages without it are rejected"
                        " (add it as optional with a default)",
                    )
                )
        problems += self._additional(path, old, new, seen)
        return problems

    def _additional(self, path: str, old: Schema, new: Schema, seen: _Seen) -> list[str]:
        before = old.get("additionalProperties", True)
        after = new.get("additionalProperties", True)
        if after is False and before is not False:
            return [self.say(path, "no longer accepts additional properties")]
        if isinstance(after, dict):
            return self.compare(
                f"{path}{{}}", before if isinstance(before, dict) else {}, after, seen
            )
        return []

    def _array(self, path: str, old: Schema, new: Schema, seen: _Seen) -> list[str]:
        problems: list[str] = []
        old_prefix: list[Schema] = old.get("prefixItems", [])
        new_prefix: list[Schema] = new.get("prefixItems", [])
        for index, new_item in enumerate(new_prefix):
            old_item = old_prefix[index] if index < len(old_prefix) else old.get("items", {})
            problems += self.compare(f"{path}[{index}]", old_item, new_item, seen)
        old_items, new_items = old.get("items", {}), new.get("items", {})
        if isinstance(old_items, dict) and isinstance(new_items, dict):
            problems += self.compare(f"{path}[]", old_items, new_items, seen)
        return problems


def _listed(values: list[Any], most: int = 12) -> str:
    """``the values ['a', 'b']``, or for a long list (ISO codes) how many and the first few."""
    if len(values) <= most:
        return f"the values {values!r}"
    return f"{len(values)} values: {', '.join(map(repr, values[:5]))}, …"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _resolve(node: Schema, root: Schema) -> tuple[str, Schema]:
    """Follow ``$ref`` (and a lone ``allOf``) to the definition; returns (last ref, schema)."""
    ref = ""
    for _ in range(64):  # a ref chain longer than this is a broken schema
        if "$ref" in node:
            ref = str(node["$ref"])
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            node = {**_pointer(root, ref), **siblings}
        elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            siblings = {k: v for k, v in node.items() if k != "allOf"}
            node = {**node["allOf"][0], **siblings}
        else:
            return ref, node
    raise ValueError(f"$ref chain too long at {ref}")


def _pointer(root: Schema, ref: str) -> Schema:
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref are supported, got {ref!r}")
    node: Any = root
    for part in ref[1:].split("/")[1:]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if not isinstance(node, dict):
        raise ValueError(f"$ref {ref!r} does not point at a schema")
    return node


def _variants(node: Schema, root: Schema) -> tuple[bool, list[tuple[str, Schema]]]:
    """Whether ``node`` accepts null, and its non-null alternatives (with their refs)."""
    ref, node = _resolve(node, root)
    members = node.get("anyOf") or node.get("oneOf")
    if isinstance(members, list):
        nullable = False
        variants: list[tuple[str, Schema]] = []
        for member in members:
            member_nullable, member_variants = _variants(member, root)
            nullable = nullable or member_nullable
            variants.extend(member_variants)
        return nullable, variants
    types = node.get("type")
    values = _allowed_values(node)
    nullable = (
        types == "null"
        or (isinstance(types, list) and "null" in types)
        or (values is not None and None in values)
    )
    if not nullable:
        return False, [(ref, node)]
    rest = dict(node)
    if isinstance(types, list):
        rest["type"] = [t for t in types if t != "null"]
    if values is not None and "enum" in rest:
        rest["enum"] = [v for v in values if v is not None]
    if types == "null" or rest.get("type") == [] or rest.get("enum") == [] or "const" in rest:
        return True, []
    return True, [(ref, rest)]


def _allowed_values(node: Schema) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    if isinstance(node.get("enum"), list):
        return list(node["enum"])
    return None


def _types(node: Schema) -> set[str]:
    """The JSON types a (non-union) schema accepts; empty means any."""
    declared = node.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {str(t) for t in declared}
    values = _allowed_values(node)
    if values is not None:
        return {_JSON_TYPES.get(type(v), "any") for v in values}
    if "properties" in node or "additionalProperties" in node:
        return {"object"}
    if "items" in node or "prefixItems" in node:
        return {"array"}
    return set()


def _describe(node: Schema) -> str:
    types = "|".join(sorted(_types(node))) or "any"
    if "format" in node:
        return f"{types} ({node['format']})"
    if types == "object" and "title" in node:
        return f"object {node['title']}"
    return types


if __name__ == "__main__":
    raise SystemExit(main())
